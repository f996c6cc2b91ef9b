package keeper

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Stall is how long a fork of the launcher may be under way before the
// keeper looks for its child stopped before its exec, and then the
// interval of the looks until the fork returns (see the package
// documentation). A fork and exec takes a millisecond or two.
const Stall = 100 * time.Millisecond

// forkWatch continues the launcher's child stopped before its exec while
// a fork is under way ("fork" until "forked").
type forkWatch struct {
	parent int // the launcher

	mu    sync.Mutex
	armed bool // a fork is under way
	timer *time.Timer
}

// fork begins the watch of a fork: a look after Stall, and at that
// interval until forked.
func (w *forkWatch) fork() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed {
		return
	}
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(Stall, w.look)
		return
	}
	w.timer.Reset(Stall)
}

// forked ends the watch.
func (w *forkWatch) forked() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *forkWatch) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return
	}
	continueBeforeExec(w.parent)
	w.timer.Reset(Stall)
}

// continueBeforeExec continues (SIGCONT) the newest child of process
// parent when it is stopped (state T) and still runs parent's executable,
// so it is stopped before its exec, and returns its pid; 0 when the newest
// child is not such a child.
func continueBeforeExec(parent int) int {
	pid := newestChild(parent)
	if pid <= 0 {
		return 0
	}
	if st, _, ok := procStat(pid); !ok || st != 'T' || !sameExecutable(parent, pid) {
		return 0
	}
	if syscall.Kill(pid, syscall.SIGCONT) != nil {
		return 0
	}
	return pid
}

// newestChild returns the child of process parent started last (the
// greatest start time), 0 when it has none. The children are those listed
// in /proc/PARENT/task/TID/children (proc(5)), or, where the kernel has no
// such files (CONFIG_PROC_CHILDREN), the processes whose parent is parent.
func newestChild(parent int) int {
	var kids []int
	base := "/proc/" + strconv.Itoa(parent) + "/task"
	tids, err := readDirNames(base)
	listed := err == nil
	for _, tid := range tids {
		b, err := os.ReadFile(base + "/" + tid + "/children")
		if err != nil {
			listed = false
			break
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				kids = append(kids, pid)
			}
		}
	}
	if !listed {
		kids = kids[:0]
		for _, pid := range livePids() {
			if _, ppid, ok := procStat(pid); ok && ppid == parent {
				kids = append(kids, pid)
			}
		}
	}
	newest, latest := 0, uint64(0)
	for _, pid := range kids {
		if start, ok := startTime(pid); ok && (newest == 0 || start >= latest) {
			newest, latest = pid, start
		}
	}
	return newest
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses); the state is the first. nil
// when pid is gone.
func statFields(pid int) [][]byte {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	var buf [512]byte
	n, _ := syscall.Read(fd, buf[:])
	syscall.Close(fd)
	b := buf[:max(n, 0)]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return bytes.Fields(b[i+1:])
}

// procStat returns the state and the parent of pid.
func procStat(pid int) (state byte, ppid int, ok bool) {
	f := statFields(pid)
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return f[0][0], ppid, err == nil
}

// startTime returns pid's start time, in clock ticks after boot.
func startTime(pid int) (uint64, bool) {
	f := statFields(pid)
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	return v, err == nil
}

// sameExecutable reports whether processes a and b run the same
// executable file.
func sameExecutable(a, b int) bool {
	x, err := os.Stat("/proc/" + strconv.Itoa(a) + "/exe")
	if err != nil {
		return false
	}
	y, err := os.Stat("/proc/" + strconv.Itoa(b) + "/exe")
	return err == nil && os.SameFile(x, y)
}
