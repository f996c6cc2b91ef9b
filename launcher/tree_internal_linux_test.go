package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
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

// The tree's figures cover the same members: a child that called setsid is
// a member, and its resident memory counts in rss; kill ends both.
func TestTreeMembersAndRSS(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, sup := range []*supervision{newSupervision("", nil), {mechanism: MechanismProc, log: log}} {
		t.Run(sup.mechanism, func(t *testing.T) { testTreeMembersAndRSS(t, sup) })
	}
}

func testTreeMembersAndRSS(t *testing.T, sup *supervision) {
	log := slog.New(slog.DiscardHandler)
	exits := make(chan exitEvent, 10)
	rp := newReaper(false, exits, log)
	s := &spawner{reqs: make(chan spawnRequest), done: make(chan struct{}), reaper: rp, log: log, sup: sup}
	go s.loop()
	defer func() { close(s.reqs); <-s.done; s.sup.close(); rp.close() }()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	// The setsid child is cat, reading fd 3: once it echoes a line, it has
	// exec'd and its memory is what the tree's rss must count.
	tr, err := s.start(spawnRequest{path: "/bin/sh", argv: []string{"sh", "-c", "setsid cat <&3 & echo $!; exec sleep 60"},
		env: []string{"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=test-rss"}, files: []uintptr{0, w.Fd(), 2, inR.Fd()}, ctty: -1})
	w.Close()
	inR.Close()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(r)
	var child int
	if _, err := fmt.Fscanln(br, &child); err != nil {
		t.Fatal(err)
	}
	if _, err := inW.WriteString("up\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "up\n" {
		t.Fatalf("the setsid child echoed %q, %v", line, err)
	}
	var buf [2048]byte
	if m := tr.members(); !slices.Contains(m, tr.pid) || !slices.Contains(m, child) {
		t.Errorf("members %v, want the worker %d and its setsid child %d (%s)", m, tr.pid, child, s.sup.mechanism)
	}
	kib, err := tr.rss()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, pid := range []int{tr.pid, child} {
		p, _ := readStat(pid, buf[:])
		want += p.rssPages * int64(os.Getpagesize()) / 1024
	}
	if kib < want {
		t.Errorf("rss %d KiB, want at least the %d KiB of the worker and its child", kib, want)
	}
	if err := tr.kill(); err != nil {
		t.Fatal(err)
	}
	<-exits
	if !tr.waitGone(time.Now().Add(10 * time.Second)) {
		t.Errorf("members left after kill: %v", tr.members())
	}
	tr.close()
}
