//go:build unix && !linux

package launcher

import (
	"errors"
	"os"
	"syscall"
)

// platformFeatures names what this platform lacks; the launcher warns once.
const platformFeatures = "pdeathsig, subreaper, process trees, the keeper, max_rss and cpu_affinity need Linux"

var errUnsupported = errors.New("not supported on this platform")

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func setSubreaper() error { return errUnsupported }

func availableCPUs() ([]int, error) { return nil, errUnsupported }

func pinThread([]int) (func(), error) { return nil, errUnsupported }

// foregroundTTY: the terminal is not handed on outside Linux.
func foregroundTTY(*os.File) bool { return false }

// hasControllingTerminal reports false: only Linux watches forks
// (supervision.watchFork).
func hasControllingTerminal() bool { return false }

// pipeTakesWhole is how much an empty pipe takes in one write(2) without
// blocking: PIPE_BUF's least value in POSIX.
const pipeTakesWhole = 512

// cloexecPipe returns a pipe whose ends are closed on exec, made under
// syscall.ForkLock so that no fork in between inherits them.
func cloexecPipe() (r, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := syscall.Pipe(p[:]); err != nil {
		return -1, -1, err
	}
	syscall.CloseOnExec(p[0])
	syscall.CloseOnExec(p[1])
	return p[0], p[1], nil
}
