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

// resetJobControl sets SIGTSTP, SIGTTIN and SIGTTOU back to the system's
// default action (stop the process) with rt_sigaction(2): once os/signal
// has subscribed them, the Go runtime keeps its own handler after Stop
// (runtime.sigdisable keeps it for every signal sigInstallGoHandler
// accepts), and that handler ignores them: os/signal's "Default behavior"
// holds only for a program that never subscribed them. A
// zeroed kernel sigaction is SIG_DFL with no flags and an empty mask, on
// every architecture.
func resetJobControl() {
	var act [4]uint64
	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
		_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	}
}
