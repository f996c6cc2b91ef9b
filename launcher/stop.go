package launcher

import (
	"syscall"
)

// beginStop stops every worker; requested is true for a stop the user
// asked for (signal, context, end of the tasks), whose clean exits give
// status 0. A persistent task worker that is idle is stopped by closing its
// stdin first; any other process gets the stop signal at once.
func (r *supervisor) beginStop(requested bool) {
	if r.shuttingDown {
		return
	}
	r.shuttingDown, r.requested = true, requested
	if r.tasks != nil {
		r.tasks.stop()
	}
	for _, s := range append([]*slot(nil), r.slots...) {
		if s.pending {
			s.pending = false
			s.gen++
		}
		s.start = ""
		if s.w != nil {
			r.stopWorker(s, !r.stopAsked && len(s.inflight) == 0)
		} else {
			r.remove(s)
		}
	}
}

// stopWorker stops the slot's process. cooperative (persistent workers
// only): close its stdin and give it stop_grace to exit by itself, then
// the stop signal; otherwise the stop signal at once. SIGKILL follows the
// stop signal after stop_grace. A cooperative stop under way is hurried
// by a later stop that is not. A worker that closed its stdin cannot read
// the EOF that asks it to finish: it gets the stop signal at once.
func (r *supervisor) stopWorker(s *slot, cooperative bool) {
	w := s.w
	if w.exit != nil {
		return // it exited: its exit waits for the end of its replies
	}
	cooperative = cooperative && !w.stdinClosed
	s.stopping()
	if w.in != nil {
		w.in.Close() // EOF: a well-behaved worker finishes and exits
		w.in = nil
	}
	switch {
	case w.phase == phaseRunning && cooperative && r.mode.persistent():
		w.phase = phaseEOF
		w.timer = r.after(r.cfg.stopGrace, func() { r.graceOver(w) })
	case w.phase == phaseRunning, w.phase == phaseEOF && !cooperative:
		if w.timer != nil {
			w.timer.Stop()
		}
		r.signalStop(w)
	}
}

// signalStop sends the stop signal to the worker and arms the kill.
func (r *supervisor) signalStop(w *worker) {
	w.phase = phaseSignaled
	if err := r.signal(w, r.cfg.stopSignal); err != nil {
		r.log.Error("signal process tree", "pid", w.pid, "error", err)
	}
	w.timer = r.after(r.cfg.stopGrace, func() { r.graceOver(w) })
}

// graceOver is the end of a stop_grace of w: the next step of its stop.
func (r *supervisor) graceOver(w *worker) {
	s := r.byPid[w.pid]
	if s == nil || s.w != w {
		return
	}
	switch w.phase {
	case phaseEOF:
		r.log.Info("worker did not exit within stop_grace of its stdin closing; sending the stop signal",
			"worker", s.index, "pid", w.pid, "stop_grace", r.cfg.stopGrace)
		r.signalStop(w)
	case phaseSignaled:
		r.log.Warn("worker did not stop within stop_grace; killing its process tree",
			"worker", s.index, "pid", w.pid, "stop_grace", r.cfg.stopGrace)
		r.kill(w)
	}
}

// signal sends the stop signal sig to every member of the worker's process
// tree (SIGCONT to stopped members) and records the stop's deadline. Every
// signal the loop sends to a worker goes through signal, forward or kill.
func (r *supervisor) signal(w *worker, sig syscall.Signal) error {
	return w.tree.stop(sig, r.cfg.stopGrace)
}

// forward passes sig on to every member of the worker's tree.
func (r *supervisor) forward(w *worker, sig syscall.Signal) error { return w.tree.forward(sig) }

// kill kills every member of the worker's process tree.
func (r *supervisor) kill(w *worker) {
	w.killed, w.phase = true, phaseKilled
	if err := w.tree.kill(); err != nil {
		r.log.Error("kill process tree", "pid", w.pid, "error", err)
	}
}
