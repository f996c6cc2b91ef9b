//go:build unix

package launcher

import (
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitEvent is the wait status of one reaped worker process.
type exitEvent struct {
	pid    int
	status syscall.WaitStatus
}

// reaper is the one place that waits for child processes.
//
// Without subreaper mode only the registered pids are reaped, each with a
// wait4 on exactly that pid, so other children of the process (an exec.Cmd
// elsewhere in a test binary, say) keep their statuses. On Linux one
// goroutine watches a pidfd per worker (pidWaiter) and reaps a pid once its
// pidfd says it exited, so the threads stay constant in the number of
// workers; where pidfds are missing, each pid gets its own blocking wait4. In subreaper mode a single
// wait4(-1) loop reaps every child, workers and adopted orphans alike, and
// hands worker statuses to out; orphans are counted and dropped.
//
// mu is held by the spawner from fork until the pid is registered, and by the
// wait4(-1) loop between reaping a pid and looking it up, so a worker that
// exits at once is never mistaken for an orphan.
type reaper struct {
	mu      sync.Mutex
	all     bool
	pids    map[int]bool
	out     chan<- exitEvent
	kick    chan struct{}
	stop    chan struct{}
	orphans int
	helpers map[int]bool // the launcher's own children that are not workers (the keeper)
	log     *slog.Logger
	wg      sync.WaitGroup
	pw      *pidWaiter // nil in subreaper mode or without pidfds
}

func newReaper(all bool, out chan<- exitEvent, log *slog.Logger) *reaper {
	r := &reaper{
		all:  all,
		pids: make(map[int]bool),
		out:  out,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		log:  log,
	}
	if all {
		go r.waitAll()
		return r
	}
	pw, err := newPidWaiter(out, r.stop)
	if err != nil {
		log.Debug("waiting for each worker on a thread of its own", "reason", err)
	} else {
		r.pw = pw
	}
	return r
}

// registerLocked records a freshly forked worker, with pidfd, a pidfd of
// it from the fork, or -1 (the reaper owns it from now on). r.mu must be
// held.
func (r *reaper) registerLocked(pid, pidfd int) {
	if r.all {
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		r.pids[pid] = true
		select {
		case r.kick <- struct{}{}:
		default:
		}
		return
	}
	if r.pw != nil && r.pw.add(pid, pidfd) == nil {
		return
	}
	r.wg.Add(1)
	go r.waitOne(pid)
}

func (r *reaper) waitOne(pid int) {
	defer r.wg.Done()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		// ECHILD: someone else reaped it (a foreign wait4(-1) in this
		// process). Report it as killed so the slot is not stuck forever.
		r.log.Error("lost the exit status of a worker", "pid", pid, "error", err)
		ws = syscall.WaitStatus(syscall.SIGKILL)
		break
	}
	r.out <- exitEvent{pid: pid, status: ws}
}

func (r *reaper) waitAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ECHILD):
			select {
			case <-r.kick:
				continue
			case <-r.stop:
				return
			}
		case err != nil:
			r.log.Error("wait4 failed", "error", err)
			select {
			case <-r.stop:
				return
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		r.mu.Lock()
		ours, helper := r.pids[pid], r.helpers[pid]
		delete(r.pids, pid)
		delete(r.helpers, pid)
		if !ours && !helper {
			r.orphans++
		}
		r.mu.Unlock()
		if helper {
			continue
		}
		if ours {
			r.out <- exitEvent{pid: pid, status: ws}
		} else {
			r.log.Debug("reaped orphan", "pid", pid, "status", describeStatus(ws))
		}
	}
}

// close ends the wait4(-1) loop once it has no children left and waits for
// the per-pid waits, which have all delivered by the time the caller has
// seen every worker exit.
func (r *reaper) close() {
	close(r.stop)
	if r.pw != nil {
		r.pw.close()
	}
	r.wg.Wait()
}

// spawnRequest asks the spawner thread to fork and exec one worker.
type spawnRequest struct {
	path  string
	argv  []string
	env   []string
	files []uintptr
	cpus  []int // CPUs the worker is pinned to; nil for no pinning
	ctty  int   // the terminal to hand to the worker's group (a parent fd), or -1
	reply chan spawnResult
	mark  any // startAsync: the caller's mark of the start, handed back with its result
}

type spawnResult struct {
	t    *tree
	err  error
	mark any // the request's mark (startAsync)
}

// spawner forks every worker from one goroutine locked to its OS thread for
// the lifetime of the launcher. PR_SET_PDEATHSIG fires when the thread that
// forked a child exits, so forking from arbitrary goroutines would let the
// Go runtime's thread management kill workers. The thread's CPU affinity is
// set before a pinned fork and restored after it, so the worker inherits the
// mask from its first instruction.
//
// Each worker is forked into a tree of its own (see tree), which the
// spawner prepares; the supervision behind the trees is closed with the
// spawner.
//
// A start is synchronous (start: the caller waits for the fork) or
// asynchronous (startAsync: the caller goes on, and collects the result
// after ready says there is one). The spawner never waits for its callers:
// asynchronous results are kept in a list, so the loop, which sends
// requests, and the spawner cannot wait for each other.
type spawner struct {
	reqs   chan spawnRequest
	done   chan struct{}
	reaper *reaper
	log    *slog.Logger
	sup    *supervision
	// watchForks: the launcher has a controlling terminal, whose stop
	// signals (^Z) may reach a child before its exec (forkExec), whatever
	// its stdin is.
	watchForks bool

	mu      sync.Mutex
	results []spawnResult // asynchronous results not taken yet
	// ready holds a token while results has some (capacity 1).
	ready chan struct{}
}

// spawnQueue is how many requests wait for the spawner before a caller
// blocks on sending one.
const spawnQueue = 256

func newSpawner(r *reaper, cfg *config) *spawner {
	s := &spawner{reqs: make(chan spawnRequest, spawnQueue), done: make(chan struct{}), reaper: r, log: cfg.logger,
		ready: make(chan struct{}, 1), watchForks: hasControllingTerminal()}
	r.mu.Lock()
	if cfg.prepared != nil {
		s.sup = cfg.prepared.take()
	}
	if s.sup == nil {
		s.sup = newSupervision(cfg.keeper, cfg.environ)
	}
	s.sup.adopt(cfg.logger)
	if pid := s.sup.keeperPID(); pid > 0 {
		// The wait4(-1) loop of subreaper mode reaps the keeper too; it
		// is no orphan.
		if r.helpers == nil {
			r.helpers = make(map[int]bool)
		}
		r.helpers[pid] = true
	}
	r.mu.Unlock()
	go s.loop()
	return s
}

func (s *spawner) loop() {
	runtime.LockOSThread()
	// Unlocking (rather than letting the goroutine exit locked) keeps the
	// thread alive, so no worker still running sees its parent thread die.
	defer runtime.UnlockOSThread()
	defer close(s.done)
	for req := range s.reqs {
		res := s.spawn(req)
		if req.reply != nil {
			req.reply <- res // buffered
			continue
		}
		res.mark = req.mark
		s.mu.Lock()
		s.results = append(s.results, res)
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

func (s *spawner) spawn(req spawnRequest) spawnResult {
	if req.cpus != nil {
		restore, err := pinThread(req.cpus)
		if err != nil {
			s.log.Warn("cpu affinity not applied", "error", err)
		} else {
			defer restore()
		}
	}
	s.reaper.mu.Lock()
	defer s.reaper.mu.Unlock()
	t, pidfd, err := s.forkExec(req, true)
	if err != nil && t != nil && t.inCgroup {
		// The kernel may refuse the cgroup (a cgroup that cannot hold
		// processes, an old kernel without clone3): when the same start
		// works without it, the trees are followed through /proc from
		// now on. Otherwise the error is the command's own.
		t2, pidfd2, err2 := s.forkExec(req, false)
		if err2 == nil {
			s.sup.useProc(err)
		}
		t, pidfd, err = t2, pidfd2, err2
	}
	if err != nil {
		return spawnResult{err: err}
	}
	s.reaper.registerLocked(t.pid, pidfd)
	return spawnResult{t: t}
}

// forkExec forks and executes req in a new tree, in a cgroup when cgroup
// is true and the supervision has them. It returns the tree and, when the
// reaper watches pidfds, the child's pidfd from the fork (else -1).
// s.reaper.mu is held.
func (s *spawner) forkExec(req spawnRequest, cgroup bool) (*tree, int, error) {
	t, err := s.sup.newTree(req.env, cgroup)
	if err != nil {
		return nil, -1, err
	}
	sys := sysProcAttr()
	pidfd := -1
	if s.reaper.pw != nil {
		askPidFD(sys, &pidfd)
	}
	t.attr(sys)
	if req.ctty >= 0 {
		// The worker's group becomes the terminal's foreground group, as
		// with tini: it may read the terminal, and ^C reaches it. The
		// terminal goes back to the launcher when the worker exits.
		sys.Foreground, sys.Ctty = true, req.ctty
		t.ctty = req.ctty
	}
	attr := &syscall.ProcAttr{Env: req.env, Files: req.files, Sys: sys}
	if s.watchForks {
		// A stop signal (^Z) that reaches the child between its fork
		// and its exec stops it there, and ForkExec waits for that
		// exec (vfork) holding its thread and its P: no goroutine of
		// this process may run again when GOMAXPROCS is 1. The keeper,
		// another process, continues such a child meanwhile.
		defer s.sup.watchFork()()
	}
	pid, err := syscall.ForkExec(req.path, req.argv, attr)
	t.started(pid, err == nil)
	return t, pidfd, err
}

// start forks and executes one worker and returns its tree.
func (s *spawner) start(req spawnRequest) (*tree, error) {
	req.reply = make(chan spawnResult, 1)
	s.reqs <- req
	res := <-req.reply
	return res.t, res.err
}

// startAsync asks for the fork and execution of req and returns at once;
// the result, with mark, is among those taken after ready. The child is
// registered with the reaper before its result is listed, so its exit may
// be reported first.
func (s *spawner) startAsync(req spawnRequest, mark any) {
	req.reply, req.mark = nil, mark
	s.reqs <- req
}

// take returns the asynchronous results listed so far, oldest first.
func (s *spawner) take() []spawnResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.results
	s.results = nil
	return res
}

// close ends the spawner thread, then the supervision: the trees' cgroups
// are removed and the keeper is told that the launcher ended cleanly. Call
// it once every tree has been drained.
func (s *spawner) close() {
	close(s.reqs)
	<-s.done
	s.sup.close()
}

// signalName returns the conventional name of s, e.g. "SIGKILL".
func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return s.String()
}
