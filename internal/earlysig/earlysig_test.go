package earlysig

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/keeper"
)

// helperEnv names what the test binary does when run again as a helper.
const helperEnv = "EARLYSIG_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "release":
		// A signal received while subscribed, then the subscription
		// released: the signal takes its default action (SIGTERM ends
		// the process), as without the subscription.
		Begin()
		s := early
		s.Ready()
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		for len(s.Signals) == 0 {
			runtime.Gosched()
		}
		Release()
		// The signal raised again reaches a thread of the process's
		// choice: it ends the process soon, not at once.
		waitForSignals()
	case "ttin":
		// Released, SIGTTIN stops the process again, as it stops any
		// program that never subscribed it (the runtime's handler,
		// left after Stop, would ignore it).
		Begin()
		early.Ready()
		Release()
		_ = syscall.Kill(os.Getpid(), syscall.SIGTTIN)
		waitForSignals() // stopped here; the test kills it
	}
	os.Exit(m.Run())
}

// waitForSignals blocks until a signal ends or stops the process: a
// blocking read(2) of a pipe nobody writes, again after each signal the
// runtime handles (preemption).
func waitForSignals() {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	var b [1]byte
	for {
		_, _ = syscall.Read(p[0], b[:])
	}
}

func runHelper(t *testing.T, name string) *os.ProcessState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a bound of last resort
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), helperEnv+"="+name)
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return c.ProcessState
}

func TestReleaseRaisesWhatItReceived(t *testing.T) {
	ps := runHelper(t, "release")
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("helper ended with %v, want killed by SIGTERM (raised again by Release)", ps)
	}
}

// The keeper runs the same executable, with keeper.Env set: it subscribes
// nothing (its own initialization ignores the launcher's signals).
func TestKeeperDoesNotSubscribe(t *testing.T) {
	if keeperEnv != keeper.Env {
		t.Fatalf("keeperEnv %q differs from keeper.Env %q", keeperEnv, keeper.Env)
	}
	if s := Take(); s != nil {
		signal.Stop(s.Signals)
	}
	t.Setenv(keeperEnv, "1")
	Begin()
	if s := Take(); s != nil {
		signal.Stop(s.Signals)
		t.Error("Begin subscribed in the keeper's process")
	}
}

func TestCaught(t *testing.T) {
	if got := Caught(false); !slices.Equal(got, Forwarded) {
		t.Errorf("Caught(false) = %v, want Forwarded %v", got, Forwarded)
	}
	got := Caught(true)
	want := append(slices.Clone(Forwarded), syscall.SIGCHLD)
	if runtime.GOOS == "linux" {
		want = append(want, syscall.SIGTSTP)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Caught(true) = %v, want %v", got, want)
	}
	if &got[0] == &Forwarded[0] {
		t.Error("Caught(true) shares Forwarded's array")
	}
}

// A subscription is usable once Ready returns, and from then on receives
// the signals.
func TestSubscribe(t *testing.T) {
	s := Subscribe(signal.Notify, syscall.SIGUSR2)
	defer signal.Stop(s.Signals)
	s.Ready()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case sig := <-s.Signals:
		if sig != syscall.SIGUSR2 {
			t.Errorf("received %v, want SIGUSR2", sig)
		}
	case <-time.After(30 * time.Second): // a bound of last resort
		t.Fatal("SIGUSR2 never arrived")
	}
}

// Take hands the subscription over once; Release after Take does nothing.
func TestTakeOnce(t *testing.T) {
	Begin()
	s := Take()
	if s == nil {
		t.Fatal("Take after Begin: nil")
	}
	defer signal.Stop(s.Signals)
	s.Ready()
	if Take() != nil {
		t.Error("a second Take returned the subscription again")
	}
	Release() // nothing to release: the signals stay with s
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Signals:
	case <-time.After(30 * time.Second): // a bound of last resort
		t.Fatal("the taken subscription lost its signals to Release")
	}
}

func TestReleaseGivesJobControlBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resetJobControl is Linux's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a bound of last resort
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), helperEnv+"=ttin")
	// A group of its own, whose leader's parent (this process) is in
	// another group of the session: the kernel discards the stop signals
	// of an orphaned process group, which the test's own may be.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(c.Process.Pid, &ws, syscall.WUNTRACED, nil); err != nil {
		t.Fatal(err)
	}
	_ = c.Process.Kill()
	_, _ = c.Process.Wait()
	if !ws.Stopped() || ws.StopSignal() != syscall.SIGTTIN {
		t.Errorf("helper: %v, want stopped by SIGTTIN", ws)
	}
}

// Also subscribes more signals on the same channel; Ready waits for both,
// whichever goroutine runs first (go test -race caught Subscribe's
// goroutine reading the field Also had replaced).
func TestAlso(t *testing.T) {
	s := Subscribe(signal.Notify, syscall.SIGUSR1)
	s.Also(signal.Notify, syscall.SIGUSR2)
	defer signal.Stop(s.Signals)
	s.Ready()
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-s.Signals:
			if got != sig {
				t.Errorf("received %v, want %v", got, sig)
			}
		case <-time.After(30 * time.Second): // a bound of last resort
			t.Fatalf("%v never arrived", sig)
		}
	}
}
