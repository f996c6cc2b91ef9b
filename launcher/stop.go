package launcher

import (
	"syscall"
	"time"
)

// beginStop stops every worker; requested is true for a stop the user
// asked for (signal, context, end of the tasks), whose clean exits give
// status 0. A persistent task worker that is idle is stopped by closing its
// stdin first; any other process gets the stop signal at once.
func (r *run) beginStop(requested bool) {
	if r.stopping {
		return
	}
	r.stopping, r.requested = true, requested
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
// by a later stop that is not.
func (r *run) stopWorker(s *slot, cooperative bool) {
	w := s.w
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
func (r *run) signalStop(w *worker) {
	w.phase = phaseSignaled
	if err := r.signal(w, r.cfg.stopSignal); err != nil {
		r.log.Error("signal process group", "pid", w.pid, "error", err)
	}
	w.timer = r.after(r.cfg.stopGrace, func() { r.graceOver(w) })
}

// graceOver is the end of a stop_grace of w: the next step of its stop.
func (r *run) graceOver(w *worker) {
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
		r.log.Warn("worker did not stop within stop_grace; killing its process group",
			"worker", s.index, "pid", w.pid, "stop_grace", r.cfg.stopGrace)
		r.kill(w)
	}
}

// signal sends sig to the worker's process group. Every signal the loop
// sends to a worker goes through signal or kill.
func (r *run) signal(w *worker, sig syscall.Signal) error { return signalGroup(w.pid, sig) }

// kill sends SIGKILL to the worker's process group.
func (r *run) kill(w *worker) {
	w.killed, w.phase = true, phaseKilled
	if err := signalGroup(w.pid, syscall.SIGKILL); err != nil {
		r.log.Error("kill process group", "pid", w.pid, "error", err)
	}
}

// drainGroup stops what a worker left behind in its process group: the stop
// signal, the grace period, then SIGKILL. Run waits for it before returning.
func (r *run) drainGroup(pgid int) {
	if !groupAlive(pgid) {
		return
	}
	sig, grace, log := r.cfg.stopSignal, r.cfg.stopGrace, r.log
	log.Debug("stopping processes left in a worker's process group", "pgid", pgid)
	r.lingering.Add(1)
	go func() {
		defer r.lingering.Done()
		_ = signalGroup(pgid, sig)
		if waitGroupGone(pgid, grace) {
			return
		}
		log.Warn("processes left by a worker ignored the stop signal; killing them", "pgid", pgid)
		_ = signalGroup(pgid, syscall.SIGKILL)
		waitGroupGone(pgid, 5*time.Second)
	}()
}

// waitGroupGone waits up to d for the process group to be empty. Nothing
// notifies the end of processes that are not our children, so it checks on
// a short interval, only while such a group exists.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
