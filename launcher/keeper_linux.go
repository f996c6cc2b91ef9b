package launcher

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/otel-qrun/otel-qrun/internal/keeper"
	"golang.org/x/sys/unix"
)

// KeeperEnv is set to "1" in the environment of the keeper: the launcher's
// executable run again as a small process that outlives a launcher killed
// with SIGKILL and then kills what the launcher's workers left. The keeper
// runs while the program's packages are initialized (package
// internal/keeper, linked with this one), so a program that passes
// [WithKeeper] needs nothing more; calling [KeeperMain] first thing in main
// still works.
const KeeperEnv = keeper.Env

// KeeperNice is the nice value the keeper starts with (setpriority(2)).
const KeeperNice = keeper.Nice

// keeperProc is the launcher's end of the keeper: a pipe whose end (EOF without
// "done") tells the keeper that the launcher is gone.
type keeperProc struct {
	pid      int
	pidfd    int // -1 when the fork gave none (kernel before 5.3)
	mu       sync.Mutex
	w        *os.File // nil once ended
	reapOnce sync.Once
}

// startKeeper starts path as the keeper (keeper.Start), or takes the one
// the process began for path during its initialization (keeper.BeginEarly,
// otel-qrun's); it learns the Run's cgroup, if any, later
// (supervision.makeRunCgroup).
func startKeeper(path string, environ []string) (*keeperProc, error) {
	p, err, ok := keeper.TakeEarly(path)
	if !ok {
		p, err = keeper.Start(path, environ)
	}
	if err != nil {
		return nil, err
	}
	return &keeperProc{pid: p.Pid, pidfd: p.Pidfd, w: p.W}, nil
}

// send writes one line to the keeper; a keeper that is gone is ignored.
func (k *keeperProc) send(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.w != nil {
		_, _ = k.w.WriteString(line + "\n")
	}
}

// end tells the keeper that the launcher ended cleanly and ends it. The
// keeper has nothing left to do then, and a short run would otherwise wait
// at exit for the keeper's own start-up (a Go runtime starting from the
// launcher's executable) to get as far as reading "done": so it is killed
// (SIGKILL through its pidfd, which cannot reach another process until the
// keeper is reaped). "done" still comes first, for a keeper that reads it
// before the signal lands. Only the first call does anything.
func (k *keeperProc) end() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.w == nil {
		return
	}
	_, _ = k.w.WriteString(keeper.LineDone + "\n")
	k.w.Close()
	k.w = nil
	if k.pidfd >= 0 {
		_ = unix.PidfdSendSignal(k.pidfd, unix.SIGKILL, nil, 0)
	}
}

// reap waits for the keeper end ended to be gone, and reaps it: the
// kernel's tear-down of its address space takes about half a millisecond,
// which a Run given a Preparation leaves to Preparation.Close, after the
// caller's own shut-down (cmd: the telemetry's). Only the first call does
// anything.
func (k *keeperProc) reap() {
	k.reapOnce.Do(func() {
		if k.pidfd >= 0 {
			defer unix.Close(k.pidfd)
			for {
				// ECHILD: a wait4(-1) loop of subreaper mode reaped it already.
				var info unix.Siginfo
				if err := unix.Waitid(unix.P_PIDFD, k.pidfd, &info, unix.WEXITED, nil); !errors.Is(err, unix.EINTR) {
					return
				}
			}
		}
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(k.pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	})
}

// KeeperMain runs the keeper when the process was started as one (KeeperEnv
// set) and reports whether it did, with the exit status. Otherwise it
// returns at once. A program that links this package rarely gets there:
// the keeper runs during package initialization (package
// internal/keeper), before the packages that do not depend on it are
// initialized.
func KeeperMain() (status int, ok bool) { return keeper.Main() }
