package workertest

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// WaitExit waits until pid has exited (a zombie counts, as in Alive) or
// deadline has passed, and reports whether it exited. It waits on a pidfd
// (pidfd_open(2), Linux 5.3), which becomes readable when the process
// exits, whoever its parent is; without pidfds it polls.
func WaitExit(pid int, deadline time.Time) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		return pollExit(pid, deadline)
	}
	defer unix.Close(fd)
	for {
		ms := time.Until(deadline).Milliseconds()
		if ms < 0 {
			return !Alive(pid)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(ms)+1)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return pollExit(pid, deadline)
		case n > 0:
			return true
		}
	}
}
