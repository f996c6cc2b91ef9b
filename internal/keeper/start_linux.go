package keeper

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Nice is the nice value the keeper starts with (setpriority(2)): its
// start-up (a Go runtime starting from the launcher's executable, about
// 1.5 ms of CPU) gives way to the launcher's and the workers'. The keeper
// raises itself back when it has work to do, where it may.
const Nice = 19

// Proc is a keeper process just started: its pid, its pidfd (-1 when the
// fork gave none: a kernel before 5.3), and the write end of the pipe that
// is its stdin.
type Proc struct {
	Pid, Pidfd int
	W          *os.File
}

// Start starts path as the keeper, in a process group of its own and
// without a parent-death signal (it must outlive the launcher), with its
// stdin the read end of a new pipe and nothing else of environ than GORACE.
// It returns once the keeper's exec succeeded, or the error that stopped
// it.
func Start(path string, environ []string) (*Proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return nil, err
	}
	defer devNull.Close()
	// One P: the keeper waits on a pipe, and the runtime then skips
	// working out a default from the CPUs and cgroup limits.
	env := []string{Env + "=1", "GOMAXPROCS=1"}
	for i := len(environ) - 1; i >= 0; i-- { // the last one counts, as for getenv
		if strings.HasPrefix(environ[i], "GORACE=") {
			if environ[i] != "GORACE=" {
				env = append(env, environ[i])
			}
			break
		}
	}
	pidfd := -1
	pid, err := syscall.ForkExec(path, []string{"otel-qrun-keeper"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{r.Fd(), devNull.Fd(), devNull.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, PidFD: &pidfd},
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start keeper %s: %w", path, err)
	}
	// A nice value is a thread's: PRIO_PGRP (the keeper leads its group)
	// reaches every thread its runtime has started already; those it
	// starts later inherit it.
	_ = syscall.Setpriority(syscall.PRIO_PGRP, pid, Nice)
	return &Proc{Pid: pid, Pidfd: pidfd, W: w}, nil
}

// early is the keeper BeginEarly starts, until taken or released.
var early struct {
	mu    sync.Mutex
	path  string
	ready chan struct{} // closed once the start ended
	proc  *Proc
	err   error
}

// BeginEarly starts path as the keeper (Start) in the background, for the
// first TakeEarly of the same path: otel-qrun begins it while its packages
// are initialized (internal/keeper/early), when its arguments look like
// a run, so that the keeper's fork and exec, and its runtime's start, are
// done before the launcher needs it (BenchmarkPrefix). Only the first call
// does anything.
func BeginEarly(path string, environ []string) {
	early.mu.Lock()
	defer early.mu.Unlock()
	if early.ready != nil {
		return
	}
	ready := make(chan struct{})
	early.path, early.ready = path, ready
	go func() {
		p, err := Start(path, environ)
		early.mu.Lock()
		early.proc, early.err = p, err
		early.mu.Unlock()
		close(ready)
	}()
}

// TakeEarly returns the keeper BeginEarly started for path, or the error
// of its start, once the start has ended; ok is false when none was begun
// for path, or it was taken or released.
func TakeEarly(path string) (p *Proc, err error, ok bool) {
	early.mu.Lock()
	ready := early.ready
	if ready == nil || early.path != path {
		early.mu.Unlock()
		return nil, nil, false
	}
	early.path = "" // taken
	early.mu.Unlock()
	<-ready
	early.mu.Lock()
	defer early.mu.Unlock()
	p, err, early.proc, early.err = early.proc, early.err, nil, nil
	return p, err, true
}

// ReleaseEarly ends the keeper BeginEarly started when nothing took it (a
// process that runs no command after all): it is killed at once (SIGKILL
// through its pidfd) and reaped in the background. A keeper left running
// would end by itself when the process exits (its pipe's end), having
// nothing to kill.
func ReleaseEarly() {
	early.mu.Lock()
	path := early.path
	early.mu.Unlock()
	if path == "" {
		return
	}
	p, err, ok := TakeEarly(path)
	if !ok || err != nil {
		return
	}
	p.W.Close()
	// An unreaped child of this process: its pid names no other until
	// it is reaped below.
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	go func() {
		if p.Pidfd >= 0 {
			defer syscall.Close(p.Pidfd)
		}
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(p.Pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	}()
}
