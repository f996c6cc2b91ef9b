//go:build unix && !linux

package launcher

// pidWaiter needs pidfds (Linux): elsewhere each worker's exit is waited
// for by its own wait4.
type pidWaiter struct{}

func newPidWaiter(chan<- exitEvent, chan struct{}) (*pidWaiter, error) { return nil, errUnsupported }

func (p *pidWaiter) add(int) error { return errUnsupported }

func (p *pidWaiter) close() {}
