package launcher

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"
)

// An ended tree's empty cgroup serves the next tree (a run of per-task
// processes creates a cgroup per slot, not per process), but never while
// a process of the old tree lives: a tree that left a process behind keeps
// its cgroup, and a closed tree whose cgroup serves another tree reaches
// no process through it (members, signal, kill).
func TestCgroupReuse(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	sup := newSupervision("", nil)
	if sup.mechanism != MechanismCgroup {
		sup.close()
		t.Skipf("no cgroup mechanism here: %s", sup.reason)
	}
	exits := make(chan exitEvent, 10)
	rp := newReaper(false, exits, log)
	s := &spawner{reqs: make(chan spawnRequest), done: make(chan struct{}), reaper: rp, log: log, sup: sup}
	go s.loop()
	closed := false
	shutdown := func() {
		if !closed {
			closed = true
			close(s.reqs)
			<-s.done
			sup.close()
			rp.close()
		}
	}
	defer shutdown()
	start := func(argv ...string) (*tree, *os.File) {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := s.start(spawnRequest{path: argv[0], argv: argv, files: []uintptr{0, w.Fd(), 2}, ctty: -1})
		w.Close()
		if err != nil {
			r.Close()
			t.Fatal(err)
		}
		return tr, r
	}
	exited := func(tr *tree) {
		t.Helper()
		if ev := <-exits; ev.pid != tr.pid {
			t.Fatalf("exit of %d, want %d", ev.pid, tr.pid)
		}
	}

	// An empty tree's cgroup goes to the next tree.
	a, out := start("/bin/true")
	out.Close()
	exited(a)
	if !a.release() {
		t.Fatal("a tree with no process left was not released")
	}
	b, out := start("/bin/sleep", "60")
	out.Close()
	if b.dir != a.dir {
		t.Errorf("the next tree got cgroup %s, want the idle %s", b.dir, a.dir)
	}
	// The closed tree a reaches nothing of b's through the shared cgroup.
	if m := a.members(); len(m) != 0 {
		t.Errorf("closed tree has members %v", m)
	}
	if err := a.signal(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
	if err := a.kill(); err != nil {
		t.Error(err)
	}
	if m := b.members(); len(m) != 1 || m[0] != b.pid {
		t.Fatalf("after signal and kill of the closed tree, the tree reusing its cgroup has %v, want its worker %d", m, b.pid)
	}

	// A tree that left a process behind keeps its cgroup.
	c, out := start("/bin/sh", "-c", "setsid sleep 60 & echo $!")
	var left int
	if _, err := fmt.Fscan(out, &left); err != nil {
		t.Fatal(err)
	}
	out.Close()
	exited(c)
	if c.release() {
		t.Fatal("a tree with a live process was released")
	}
	d, out := start("/bin/true")
	out.Close()
	exited(d)
	if d.dir == c.dir {
		t.Errorf("a new tree got the cgroup %s of a tree whose process %d lives", c.dir, left)
	}
	if !d.release() {
		t.Fatal("empty tree not released")
	}
	if err := c.kill(); err != nil {
		t.Fatal(err)
	}
	if !c.waitGone(time.Now().Add(30 * time.Second)) {
		t.Fatalf("left process still in %s: %v", c.dir, c.members())
	}
	c.close()
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("the cgroup of a tree that was closed with processes left is not removed: %v", err)
	}

	// A cgroup that cgroup.kill was written to is never used again: the
	// kernel kills every process cloned into it afterwards.
	if err := b.kill(); err != nil {
		t.Fatal(err)
	}
	exited(b)
	b.release()
	e, out := start("/bin/sh", "-c", "echo alive")
	var said string
	fmt.Fscan(out, &said)
	out.Close()
	ev := <-exits
	if ev.pid != e.pid || ev.status.Signaled() || said != "alive" {
		t.Errorf("a process started after a tree's kill: %v, said %q (cgroup %s, the killed tree's %s)", ev.status, said, e.dir, b.dir)
	}
	e.release()
	shutdown()
	for _, dir := range []string{a.dir, d.dir, e.dir, sup.base} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left after the supervision closed: %v", dir, err)
		}
	}
}
