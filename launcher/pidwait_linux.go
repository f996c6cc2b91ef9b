package launcher

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// pidWaiter waits for many child processes with no thread of its own: a
// pidfd per worker (pidfd_open(2), Linux 5.3), all in one epoll set watched
// by one goroutine. A pidfd becomes readable when its process exits; only
// then is that one pid reaped, with wait4(pid, WNOHANG), so the statuses of
// the process's other children (an exec.Cmd elsewhere in a test binary) are
// never taken. It replaces the goroutine blocked in wait4 per worker, which
// costs an OS thread each.
//
// The goroutine does not block in epoll_wait(2) either: the epoll set is
// itself in the Go runtime's poller (an epoll descriptor is readable when
// its set has events), so the goroutine is parked like one waiting on a
// socket, and an exit wakes it on a thread that is running already, with
// no thread to hand back from a blocking system call.
type pidWaiter struct {
	epfd int
	ep   *os.File // epfd, in the runtime's poller
	wake int      // an eventfd in the set: close writes to it
	out  chan<- exitEvent
	stop chan struct{}

	mu   sync.Mutex
	fds  map[int32]int // pidfd -> pid
	done chan struct{}
}

// newPidWaiter returns a waiter that hands the statuses of the pids it is
// given to out, or an error when the kernel lacks pidfds or epoll.
func newPidWaiter(out chan<- exitEvent, stop chan struct{}) (*pidWaiter, error) {
	// Probe: a pidfd of this process tells whether pidfd_open exists.
	self, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	unix.Close(self)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll set: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "pidfds") // non-blocking: in the poller
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("epoll set: %w", err)
	}
	p := &pidWaiter{epfd: epfd, ep: ep, wake: wake, out: out, stop: stop, fds: make(map[int32]int), done: make(chan struct{})}
	go p.loop(rc)
	return p, nil
}

// askPidFD asks the fork of sys for a pidfd of the child (clone with
// CLONE_PIDFD, Linux 5.2), stored in *fd; -1 when the kernel gave none.
// It spares the pidfd_open of add.
func askPidFD(sys *syscall.SysProcAttr, fd *int) {
	*fd = -1
	sys.PidFD = fd
}

// add watches pid, a child not reaped yet (the caller holds the reaper's
// lock from the fork on), through fd, a pidfd of it the fork returned
// (the waiter owns it from now on), or, when fd is -1, one opened here. An
// error leaves pid to the caller (fd is closed).
func (p *pidWaiter) add(pid, fd int) error {
	if fd < 0 {
		var err error
		// pidfd_open sets close-on-exec, as CLONE_PIDFD does.
		if fd, err = unix.PidfdOpen(pid, 0); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.fds[int32(fd)] = pid
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		p.mu.Lock()
		delete(p.fds, int32(fd))
		p.mu.Unlock()
		unix.Close(fd)
		return err
	}
	return nil
}

func (p *pidWaiter) loop(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]unix.EpollEvent, 64)
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			// Take what is ready without waiting; false: the runtime
			// parks the goroutine until the set is readable.
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || (werr != nil && !errors.Is(werr, unix.EINTR))
		})
		if err != nil || werr != nil {
			return // the epoll set is gone: close was called
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wake {
				return
			}
			p.reap(ev.Fd)
		}
	}
}

// reap reaps the process of a readable pidfd and hands its status on.
func (p *pidWaiter) reap(fd int32) {
	p.mu.Lock()
	pid, ok := p.fds[fd]
	p.mu.Unlock()
	if !ok {
		// Not ours (any more): out of the set, or its level-triggered
		// event would wake the loop for ever.
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		return
	}
	var ws syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err == nil && got == 0 {
			return // not exited yet (a stop, say): wait for the next event
		}
		if err != nil {
			// ECHILD: a foreign wait4(-1) took it; see waitOne.
			ws = syscall.WaitStatus(syscall.SIGKILL)
		}
		break
	}
	// Forget the descriptor before closing it: once closed, its number
	// may at once be the pidfd of a new process (a fork on the spawner's
	// thread), whose entry must not be the one deleted.
	p.mu.Lock()
	delete(p.fds, fd)
	p.mu.Unlock()
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	unix.Close(int(fd))
	if testHookPidfdClosed != nil {
		testHookPidfdClosed()
	}
	select {
	case p.out <- exitEvent{pid: pid, status: ws}:
	case <-p.stop:
	}
}

// testHookPidfdClosed, when not nil, runs in reap right after a pidfd is
// closed: tests start a process there, whose pidfd gets the same number.
var testHookPidfdClosed func()

// close ends the loop and releases the descriptors. Every worker has been
// reported by the time the run ends, so no pidfd is normally left.
func (p *pidWaiter) close() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
	<-p.done
	p.mu.Lock()
	for fd := range p.fds {
		unix.Close(int(fd))
	}
	p.fds = nil
	p.mu.Unlock()
	p.ep.Close()
	unix.Close(p.wake)
}
