package forkexec

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The test binary run with helperEnv set blocks reading its stdin: a child
// that still runs this process's executable, as a child before its exec
// does.
const helperEnv = "FORKEXEC_TEST_BLOCK"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		var b [1]byte
		_, _ = os.Stdin.Read(b[:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child starts path with argv from a thread locked for the test, its
// stdin a pipe the test holds, and returns its pid and the thread's id.
// The child ends with the test.
func child(t *testing.T, path string, argv []string, env []string) (pid, tid int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	pid, stopped, err := ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: []uintptr{r.Fd(), 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if stopped != 0 {
		t.Errorf("ForkExec reported a stop (%v) that did not happen", stopped)
	}
	t.Cleanup(func() {
		w.Close()
		_ = syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	})
	return pid, syscall.Gettid()
}

// waitState waits until pid's state (proc(5)) is stopped or not, as asked.
func waitState(t *testing.T, pid int, stopped bool) {
	t.Helper()
	// The state changes without an event to wait on: it is read every
	// millisecond, for a minute at most.
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for stoppedState(pid) != stopped {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: stopped is not %v after a minute", pid, stopped)
		}
		<-tick.C
	}
}

func TestNewestChildIsTheLastForked(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	first, tid := child(t, sleep, []string{"sleep", "60"}, nil)
	second, tid2 := child(t, sleep, []string{"sleep", "60"}, nil)
	if tid != tid2 {
		t.Fatalf("the locked thread changed: %d, %d", tid, tid2)
	}
	if got := newestChild(tid); got != second {
		t.Errorf("newestChild = %d, want %d (the first was %d)", got, second, first)
	}
}

// A stopped child that runs its own program (it got past its exec) is left
// stopped: its stop is its own.
func TestContinueBeforeExecLeavesAnExecutedChild(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	pid, tid := child(t, sleep, []string{"sleep", "60"}, nil)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, true)
	if sig := continueBeforeExec(tid); sig != 0 {
		t.Errorf("continueBeforeExec continued a child that executed sleep(1) (%v)", sig)
	}
	if !stoppedState(pid) {
		t.Error("the child was continued")
	}
}

// A stopped child that still runs this executable is continued, and the
// signal that stopped it is told.
func TestContinueBeforeExecContinuesAChildOfThisExecutable(t *testing.T) {
	pid, tid := child(t, "/proc/self/exe", []string{"forkexec.test"}, []string{helperEnv + "=1"})
	if err := syscall.Kill(pid, syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, true)
	if sig := continueBeforeExec(tid); sig != syscall.SIGTSTP {
		t.Errorf("continueBeforeExec = %v, want SIGTSTP", sig)
	}
	waitState(t, pid, false)
}

func TestWaitStopped(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	pid, _ := child(t, sleep, []string{"sleep", "60"}, nil)
	if sig, ok := WaitStopped(pid); ok {
		t.Errorf("WaitStopped of a running child = %v, true", sig)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, true)
	if sig, ok := WaitStopped(pid); !ok || sig != syscall.SIGSTOP {
		t.Errorf("WaitStopped = %v, %v; want SIGSTOP, true", sig, ok)
	}
	if sig, ok := WaitStopped(pid); ok {
		t.Errorf("a stop is reported once; the second WaitStopped = %v, true", sig)
	}
	if _, ok := WaitStopped(1 << 22); ok {
		t.Error("WaitStopped of no child reported a stop")
	}
}
