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
