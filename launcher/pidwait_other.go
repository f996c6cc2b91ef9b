//go:build unix && !linux

package launcher

import "syscall"

// pidWaiter needs pidfds (Linux): elsewhere each worker's exit is waited
// for by its own wait4.
type pidWaiter struct{}

func newPidWaiter(chan<- exitEvent, chan struct{}) (*pidWaiter, error) { return nil, errUnsupported }

func (p *pidWaiter) add(int, int) error { return errUnsupported }

// askPidFD: no pidfds outside Linux; *fd stays -1.
func askPidFD(*syscall.SysProcAttr, *int) {}

func (p *pidWaiter) close() {}
