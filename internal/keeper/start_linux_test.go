package keeper

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// startedKeeper waits for the keeper BeginEarly started to be done
// starting, and returns it without taking it.
func startedKeeper(t *testing.T) *Proc {
	t.Helper()
	early.mu.Lock()
	ready := early.ready
	early.mu.Unlock()
	<-ready
	early.mu.Lock()
	defer early.mu.Unlock()
	if early.err != nil {
		t.Fatal(early.err)
	}
	return early.proc
}

// resetEarly forgets an early keeper, for the next test.
func resetEarly() {
	early.mu.Lock()
	defer early.mu.Unlock()
	early.path, early.ready, early.proc, early.err = "", nil, nil, nil
}

// waitExited waits until pid has exited (its pidfd is readable), or is
// gone already; 60 s is a bound of last resort. Its reaping is left to
// whoever reaps it (goleak checks that its goroutine ends).
func waitExited(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 60_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("process %d still runs: %v", pid, err)
		}
		return
	}
}

// The keeper BeginEarly starts goes to the first TakeEarly of its path,
// once; a keeper taken is the caller's to end (here: its pipe's end
// without "done", after which it exits having nothing to kill).
func TestTakeEarly(t *testing.T) {
	defer resetEarly()
	BeginEarly(os.Args[0], os.Environ())
	BeginEarly("/nonexistent", os.Environ()) // only the first call counts
	if _, _, ok := TakeEarly("/other/path"); ok {
		t.Fatal("TakeEarly gave the keeper begun for another path")
	}
	p, err, ok := TakeEarly(os.Args[0])
	if !ok || err != nil || p == nil {
		t.Fatalf("TakeEarly = %v, %v, %v; want the keeper started", p, err, ok)
	}
	if _, _, ok := TakeEarly(os.Args[0]); ok {
		t.Error("a second TakeEarly gave the keeper again")
	}
	ReleaseEarly() // taken: nothing to release
	if err := syscall.Kill(p.Pid, 0); err != nil {
		t.Fatalf("the taken keeper %d: %v, want it running", p.Pid, err)
	}
	p.W.Close()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(p.Pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("keeper after its pipe's end: %v, %v; want exit 0", ws, err)
	}
	if p.Pidfd >= 0 {
		syscall.Close(p.Pidfd)
	}
}

// A keeper begun early that nothing takes (the process runs no command
// after all) is killed and reaped by ReleaseEarly.
func TestReleaseEarly(t *testing.T) {
	defer resetEarly()
	BeginEarly(os.Args[0], os.Environ())
	p := startedKeeper(t)
	ReleaseEarly()
	waitExited(t, p.Pid)
	if _, _, ok := TakeEarly(os.Args[0]); ok {
		t.Error("TakeEarly gave a released keeper")
	}
}

// A keeper that cannot start is reported to the taker.
func TestTakeEarlyStartError(t *testing.T) {
	defer resetEarly()
	BeginEarly("/nonexistent/otel-qrun", nil)
	_, err, ok := TakeEarly("/nonexistent/otel-qrun")
	if !ok || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("TakeEarly = %v, %v; want ENOENT", err, ok)
	}
}
