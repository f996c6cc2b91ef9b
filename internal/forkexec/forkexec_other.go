//go:build !linux

package forkexec

import "syscall"

// ForkExec is syscall.ForkExec; stopped is always 0. Outside Linux there
// is no /proc to find a child stopped before its exec, and the hang the
// package documentation describes is not guarded against.
func ForkExec(path string, argv []string, attr *syscall.ProcAttr) (pid int, stopped syscall.Signal, err error) {
	pid, err = syscall.ForkExec(path, argv, attr)
	return pid, 0, err
}
