//go:build unix && !linux

package launcher

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/keeper"
)

// Supervision mechanisms (see [ProbeSupervision]).
const (
	MechanismCgroup = "cgroup"
	MechanismProc   = "proc"
	// MechanismGroup: the worker's process group only (no /proc, no cgroups).
	MechanismGroup = "group"
)

// KeeperEnv is set to "1" in the environment of the keeper, which exists
// only on Linux.
const KeeperEnv = keeper.Env

// KeeperMain reports false: there is no keeper outside Linux.
func KeeperMain() (status int, ok bool) { return 0, false }

type logger interface {
	Warn(msg string, args ...any)
	Debug(msg string, args ...any)
}

// supervision outside Linux: a tree is the worker's process group.
type supervision struct {
	reapLater bool // as on Linux; no keeper here
}

func newSupervision(string, []string) *supervision { return &supervision{} }

func (s *supervision) adopt(logger) {}

func (s *supervision) newTree([]string, bool) (*tree, error) { return &tree{ctty: -1}, nil }

func (s *supervision) close() {}

func (s *supervision) reapKeeper() {}

func (s *supervision) watchFork() func() { return func() {} }

func (s *supervision) info() SupervisionInfo { return ProbeSupervision() }

func (s *supervision) useProc(error) {}

func (s *supervision) keeperPID() int { return 0 }

// tree outside Linux is the worker's process group: descendants that leave
// it are not followed.
type tree struct {
	pid      int
	ctty     int
	inCgroup bool
	mu       sync.Mutex
	stopBy   time.Time
}

// newInertTree is inertTree outside Linux: signals to a pid that names no
// process find nothing.
func newInertTree(pid int) *tree { return &tree{pid: pid, ctty: -1} }

func (t *tree) attr(*syscall.SysProcAttr) {}

func (t *tree) started(pid int, forked bool) {
	if forked {
		t.pid = pid
	}
}

func (t *tree) forward(sig syscall.Signal) error { return signalGroup(t.pid, sig) }

func (t *tree) signal(sig syscall.Signal) error {
	err := signalGroup(t.pid, sig)
	_ = signalGroup(t.pid, syscall.SIGCONT)
	return err
}

func (t *tree) kill() error { return signalGroup(t.pid, syscall.SIGKILL) }

func (t *tree) alive() bool {
	err := unix.Kill(-t.pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func (t *tree) close() {}

func (t *tree) exited() {}

// stoppedOnTerminal: job control of a worker on the terminal is Linux's only.
func (t *tree) stoppedOnTerminal() (bool, syscall.Signal) { return false, 0 }

func (t *tree) suspendJob(syscall.Signal) {}

// jobControlled: job control of the launcher's group is Linux's only.
func jobControlled() bool { return false }

func stopJob(syscall.Signal) {}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := unix.Kill(-pgid, sig)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func treesRSS([]*worker) (map[int]int64, error) { return nil, errUnsupported }

// SupervisionInfo says how this process would supervise worker trees.
type SupervisionInfo struct {
	Mechanism string
	Detail    string
}

// ProbeSupervision reports the process-group mechanism outside Linux.
func ProbeSupervision() SupervisionInfo {
	return SupervisionInfo{Mechanism: MechanismGroup, Detail: "no cgroups or /proc on this platform: descendants that leave the worker's process group are not followed, and nothing outlives a launcher killed with SIGKILL only on Linux"}
}

// release reports whether the worker's group is gone.
func (t *tree) release() bool { return !t.alive() }
