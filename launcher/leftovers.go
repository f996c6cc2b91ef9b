//go:build unix

package launcher

import (
	"syscall"
	"time"
)

// stop sends the stop signal to every member of the tree (SIGCONT to the
// stopped ones) and records when what is left is to be killed.
func (t *tree) stop(sig syscall.Signal, grace time.Duration) error {
	t.mu.Lock()
	if t.stopBy.IsZero() {
		t.stopBy = time.Now().Add(grace)
	}
	t.mu.Unlock()
	return t.signal(sig)
}

// stopDeadline is when a stop under way kills the tree; zero when none is.
func (t *tree) stopDeadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopBy
}

// waitGone waits until no member of the tree runs, or until deadline.
// Nothing notifies the end of processes that are not the launcher's
// children, so it checks on a short interval, only while such a tree
// exists. Zombies are not members: a parent that never reaps its children
// does not keep a tree alive.
func (t *tree) waitGone(deadline time.Time) bool {
	for t.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stopLeftovers ends what an exited worker left in its tree (children that
// called setsid, double-forked daemons, a work horse mid-job): the stop
// signal, the grace period, then SIGKILL. A stop already under way keeps
// its deadline. A tree with no live member is released at once (its
// cgroup is kept for the next process). Run waits for it before returning.
func (r *supervisor) stopLeftovers(w *worker) {
	t := w.tree
	t.exited()
	if t.release() {
		return
	}
	sig, grace, log := r.l.cfg.stopSignal, r.l.cfg.stopGrace, r.l.cfg.logger
	log.Debug("stopping processes left in a worker's tree", "pid", w.pid)
	deadline := t.stopDeadline()
	r.lingering.Add(1)
	go func() {
		defer r.lingering.Done()
		defer t.close()
		switch {
		case deadline.IsZero():
			_ = t.stop(sig, grace)
			deadline = t.stopDeadline()
		case time.Now().After(deadline):
			// The grace was over and the tree was killed while the
			// worker still ran: what is left is dying already.
			_ = t.kill()
			t.waitGone(time.Now().Add(5 * time.Second))
			return
		}
		if t.waitGone(deadline) {
			return
		}
		log.Warn("processes left by a worker ignored the stop signal; killing them", "pid", w.pid)
		_ = t.kill()
		t.waitGone(time.Now().Add(5 * time.Second))
	}()
}

// inertTree is a tree for pid that follows no process: it has no members,
// so signals, kills and liveness checks never reach a process. The loop's
// tests drive workers with pids that name no process through it.
func inertTree(pid int) *tree { return newInertTree(pid) }
