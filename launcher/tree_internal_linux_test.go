package launcher

import (
	"errors"
	"log/slog"
	"os"
	"syscall"
	"testing"
)

// When the kernel refuses the worker's cgroup (here a directory that is
// not a cgroup at all), the worker starts anyway and trees are followed
// through /proc from then on; a command that cannot be executed is still
// its own error and changes nothing.
func TestCgroupRefusedFallsBackToProc(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	sup := &supervision{mechanism: MechanismCgroup, base: t.TempDir(), log: slog.New(slog.DiscardHandler)}
	exits := make(chan exitEvent, 10)
	rp := newReaper(false, exits, slog.New(slog.DiscardHandler))
	s := &spawner{reqs: make(chan spawnRequest), done: make(chan struct{}), reaper: rp, log: slog.New(slog.DiscardHandler), sup: sup}
	go s.loop()
	defer func() { close(s.reqs); <-s.done }()

	if _, err := s.start(spawnRequest{path: "/nonexistent", argv: []string{"x"}, files: []uintptr{0, 1, 2}, ctty: -1}); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("start of a missing command: %v, want ENOENT", err)
	}
	if sup.mechanism != MechanismCgroup {
		t.Errorf("a missing command switched the mechanism to %s", sup.mechanism)
	}
	tr, err := s.start(spawnRequest{path: "/bin/sleep", argv: []string{"sleep", "60"}, env: []string{"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=test-fallback"}, files: []uintptr{0, 1, 2}, ctty: -1})
	if err != nil {
		t.Fatalf("start with a refused cgroup: %v", err)
	}
	if sup.mechanism != MechanismProc || tr.inCgroup || tr.dir != "" {
		t.Errorf("after a refused cgroup: mechanism %s, tree in cgroup %v %q; want proc", sup.mechanism, tr.inCgroup, tr.dir)
	}
	if m := tr.members(); len(m) != 1 || m[0] != tr.pid {
		t.Errorf("members %v, want the worker %d", m, tr.pid)
	}
	if err := tr.kill(); err != nil {
		t.Error(err)
	}
	<-exits
	if tr.alive() {
		t.Error("the tree is alive after kill")
	}
	rp.close()
}
