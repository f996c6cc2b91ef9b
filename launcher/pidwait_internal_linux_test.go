package launcher

import (
	"sync"
	"syscall"
	"testing"
	"time"
)

// startWithPidFD forks /bin/true with a pidfd from the fork, as the
// spawner does.
func startWithPidFD(t *testing.T) (pid, fd int) {
	t.Helper()
	sys := &syscall.SysProcAttr{}
	askPidFD(sys, &fd)
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}, Sys: sys})
	if err != nil {
		t.Fatal(err)
	}
	return pid, fd
}

// A pidfd's number is reused at once by the next fork: the pidfd of a
// process started right after another's was closed must still be watched,
// and its exit reported. (The entry of the closed one used to be deleted
// after the close, taking the new process's entry with it: its exit was
// never reported, and its level-triggered event spun the loop for ever.)
func TestPidWaiterReusedDescriptor(t *testing.T) {
	exits := make(chan exitEvent, 4)
	stop := make(chan struct{})
	p, err := newPidWaiter(exits, stop)
	if err != nil {
		t.Skipf("no pidfds: %v", err)
	}
	defer func() { close(stop); p.close() }()

	var once sync.Once
	second := make(chan [2]int, 1)
	testHookPidfdClosed = func() {
		once.Do(func() {
			pid, fd := startWithPidFD(t)
			if err := p.add(pid, fd); err != nil {
				t.Errorf("add: %v", err)
			}
			second <- [2]int{pid, fd}
		})
	}
	defer func() { testHookPidfdClosed = nil }()

	first, fd := startWithPidFD(t)
	if err := p.add(first, fd); err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{first: true}
	timeout := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-exits:
			if !want[ev.pid] {
				t.Errorf("exit of %d reported, not awaited", ev.pid)
			}
			delete(want, ev.pid)
			if ev.pid == first {
				s := <-second
				if s[1] != fd {
					t.Logf("the second pidfd is %d, not the first's %d: the race was not forced", s[1], fd)
				}
				want[s[0]] = true
			}
		case <-timeout:
			t.Fatalf("exits not reported: %v", want)
		}
	}
}
