package launcher_test

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// The launcher's threads do not grow with its workers: one goroutine
// waits for every worker (a pidfd each), not a thread blocked in wait4 per
// worker. Each worker's exit status still arrives: the launcher exits with
// the status of the workers, which exit 0 on TERM.
func TestThreadsConstantInWorkers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pidfds are Linux only")
	}
	if _, err := unix.PidfdOpen(os.Getpid(), 0); err != nil {
		t.Skipf("no pidfd_open: %v", err)
	}
	const workers = 64
	cmd, sc := launcherProcess(t, workers, "trap", false, workertest.Params{})
	readRecords(t, sc, workers)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) > 16 {
		t.Errorf("the launcher runs %d threads with %d workers; want at most 16", len(tasks), workers)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("launcher: %v", err)
	}
}
