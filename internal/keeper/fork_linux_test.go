package keeper

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// blockHelperEnv makes the test binary block reading its stdin: a child
// that runs this process's executable, as a child before its exec does.
const blockHelperEnv = "KEEPER_TEST_BLOCK_HELPER"

// child starts argv (argv[0] a path) with env, its stdin a pipe the test
// holds, and returns its pid; it is killed and reaped at the end of the
// test.
func child(t *testing.T, env []string, argv ...string) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Env: env, Files: []uintptr{r.Fd(), 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		_ = syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	})
	return pid
}

// sleeper starts sleep(1) as a child, or skips the test.
func sleeper(t *testing.T) int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	return child(t, nil, sleep, "60")
}

// ownChild starts this executable as a child that blocks.
func ownChild(t *testing.T) int {
	t.Helper()
	return child(t, []string{blockHelperEnv + "=1"}, "/proc/self/exe")
}

// waitStopped waits until pid's state is stopped (T) or not, as asked.
// The state changes with no event to wait on: it is read every
// millisecond, for a minute at most.
func waitStopped(t *testing.T, pid int, stopped bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st, _, ok := procStat(pid)
		if ok && (st == 'T') == stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: state %c after a minute, want stopped %v", pid, st, stopped)
		}
		<-tick.C
	}
}

func TestNewestChildIsTheLastStarted(t *testing.T) {
	first := sleeper(t)
	// Start times are in clock ticks (10 ms): children are started until
	// one starts a tick later than the first.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, _ := startTime(first)
	second := 0
	for second == 0 {
		pid := sleeper(t)
		if s, _ := startTime(pid); s > start {
			second = pid
		}
		<-tick.C
	}
	if got := newestChild(os.Getpid()); got != second {
		t.Errorf("newestChild = %d, want %d (the first was %d)", got, second, first)
	}
}

// A stopped child that runs its own program (it got past its exec) is
// left stopped: its stop is its own.
func TestContinueBeforeExecLeavesAnExecutedChild(t *testing.T) {
	pid := sleeper(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid, true)
	if got := continueBeforeExec(os.Getpid()); got != 0 {
		t.Errorf("continueBeforeExec continued %d, a child that executed sleep(1)", got)
	}
	if st, _, _ := procStat(pid); st != 'T' {
		t.Errorf("the child was continued: state %c", st)
	}
}

// A stopped child that still runs this executable is continued.
func TestContinueBeforeExecContinuesAChildOfThisExecutable(t *testing.T) {
	pid := ownChild(t)
	if err := syscall.Kill(pid, syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid, true)
	if got := continueBeforeExec(os.Getpid()); got != pid {
		t.Errorf("continueBeforeExec = %d, want %d", got, pid)
	}
	waitStopped(t, pid, false)
}

// A "fork" line arms the watch: a child stopped before its exec is
// continued within Stall; "forked" disarms it.
func TestForkWatchContinuesTheStoppedChild(t *testing.T) {
	w := &forkWatch{parent: os.Getpid()}
	defer w.forked()
	pid := ownChild(t)
	if err := syscall.Kill(pid, syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid, true)
	w.fork()
	waitStopped(t, pid, false)
	w.forked()
	w.mu.Lock()
	armed := w.armed
	w.mu.Unlock()
	if armed {
		t.Error("the watch is still armed after forked")
	}
}
