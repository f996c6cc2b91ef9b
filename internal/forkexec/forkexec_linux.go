package forkexec

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// ForkExec is syscall.ForkExec(path, argv, attr), and stopped is the
// signal that stopped the child before its exec, which ForkExec continued
// (0 when none did: see the package documentation). The error is
// syscall.ForkExec's.
func ForkExec(path string, argv []string, attr *syscall.ProcAttr) (pid int, stopped syscall.Signal, err error) {
	// The child is the forking thread's: the thread stays the same
	// until the fork returns.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := &watch{tid: syscall.Gettid()}
	w.mu.Lock()
	w.timer = time.AfterFunc(Stall, w.check)
	w.mu.Unlock()
	pid, err = syscall.ForkExec(path, argv, attr)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	w.timer.Stop()
	return pid, w.stopped, err
}

// watch is the watch of one fork, by thread tid.
type watch struct {
	tid     int
	mu      sync.Mutex
	done    bool // the fork returned: its child is no longer looked at
	timer   *time.Timer
	stopped syscall.Signal
}

// check continues the fork's child if it stopped before its exec, and
// checks again after Stall while the fork has not returned.
func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	if sig := continueBeforeExec(w.tid); sig != 0 {
		w.stopped = sig
	}
	w.timer.Reset(Stall)
}

// continueBeforeExec continues the newest child of thread tid when it is
// stopped and still runs this process's executable, and returns the signal
// that stopped it (SIGTSTP when its stop report was taken already); 0 when
// there is no such child.
func continueBeforeExec(tid int) syscall.Signal {
	pid := newestChild(tid)
	if pid <= 0 || !stoppedState(pid) || !sameExecutable(pid) {
		return 0
	}
	sig, ok := WaitStopped(pid)
	if !ok {
		sig = syscall.SIGTSTP
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return 0
	}
	return sig
}

// newestChild returns the last child thread tid forked: the last pid of
// /proc/self/task/TID/children (proc(5); a thread's children are listed in
// the order they were forked, and only those it forked itself), or, where
// the kernel has no such file (CONFIG_PROC_CHILDREN), the child of the
// process with the latest start time. 0 when there is none.
func newestChild(tid int) int {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", tid)); err == nil {
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0
		}
		pid, _ := strconv.Atoi(string(f[len(f)-1]))
		return pid
	}
	self := os.Getpid()
	newest, start := 0, uint64(0)
	names, _ := os.ReadDir("/proc")
	for _, e := range names {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, st, ok := parentAndStart(pid)
		if ok && ppid == self && st >= start {
			newest, start = pid, st
		}
	}
	return newest
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses): the state is the first.
func statFields(pid int) [][]byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return bytes.Fields(b[i+1:])
}

// parentAndStart reads the parent and the start time (clock ticks after
// boot) of pid from /proc/PID/stat.
func parentAndStart(pid int) (ppid int, start uint64, ok bool) {
	f := statFields(pid)
	if len(f) < 20 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	start, err2 := strconv.ParseUint(string(f[19]), 10, 64)
	return ppid, start, err1 == nil && err2 == nil
}

// stoppedState reports whether pid is stopped by a signal (state T).
func stoppedState(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && string(f[0]) == "T"
}

// sameExecutable reports whether pid runs this process's executable: a
// child before its exec does.
func sameExecutable(pid int) bool {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return false
	}
	other, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && os.SameFile(self, other)
}

// WaitStopped takes the stop report of child pid (waitid(2) with
// WSTOPPED and WNOHANG, which never reaps an exit) and returns the signal
// that stopped it; ok is false when pid has no stop to report.
func WaitStopped(pid int) (sig syscall.Signal, ok bool) {
	// waitid(2) by hand: package syscall has no Waitid, and this package
	// keeps to the standard library (see the package documentation).
	var info [128]byte // a siginfo_t
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
		uintptr(unsafe.Pointer(&info)), syscall.WSTOPPED|syscall.WNOHANG, 0, 0)
	if errno != 0 {
		return 0, false
	}
	c := (*sigchldInfo)(unsafe.Pointer(&info))
	if c.Signo != int32(syscall.SIGCHLD) || c.Code != cldStopped {
		return 0, false
	}
	return syscall.Signal(c.Status), true
}

// pPID is P_PID, waitid(2)'s id type of one process.
const pPID = 1

// sigchldInfo is the start of a siginfo_t of SIGCHLD (sigaction(2)):
// si_signo, si_errno, si_code, then the union, aligned as a pointer is,
// whose first members are si_pid, si_uid and si_status.
type sigchldInfo struct {
	Signo, Errno, Code int32
	_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
	Pid                int32
	UID                uint32
	Status             int32
}

// cldStopped is CLD_STOPPED, the si_code of a child stopped by a signal.
const cldStopped = 5
