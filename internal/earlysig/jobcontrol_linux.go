package earlysig

import (
	"syscall"
	"unsafe"
)

// jobControlStop: the launcher catches SIGTSTP (Caught).
const jobControlStop = true

// isTerminal reports whether fd is a terminal (tcgetattr succeeds), as
// golang.org/x/term's IsTerminal, with the syscall package alone: see
// keeperEnv.
func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
