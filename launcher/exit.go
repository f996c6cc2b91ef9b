package launcher

import (
	"fmt"
	"syscall"
	"time"
)

func (r *supervisor) onExit(ev exitEvent) {
	s := r.byPid[ev.pid]
	if s == nil && r.launches > 0 {
		// A process started asynchronously may exit before the loop
		// has its start: its exit is handled with the start.
		if r.early == nil {
			r.early = make(map[int]exitEvent)
		}
		r.early[ev.pid] = ev
		return
	}
	if s == nil || s.w == nil || s.w.exit != nil {
		return
	}
	w := s.w
	if w.span != nil && r.mode.persistent() {
		// What the worker left unread on its stdin is known now that it
		// reads no more: tasks it never read are not charged.
		w.unread = unreadBytes(w.in)
		if !w.replyEOF {
			// A reply written before the exit may still wait in the
			// reply pipe: the exit is handled once the pipe is read to
			// its end (onReply). What is left of the tree is stopped
			// now, so that the pipe ends; a pipe held open by a
			// process outside the tree is given up on after the
			// tree's stop has run its course.
			w.exit, w.exitAt = &ev, time.Now()
			s.stopping()
			r.stopLeftovers(w)
			r.after(2*r.cfg.stopGrace+5*time.Second, func() {
				if s.w == w && !w.replyEOF {
					r.log.Warn("the result descriptor of an exited worker stays open; handling its exit without it", "worker", s.index, "pid", w.pid)
					r.exited(s, w, ev.status)
				}
			})
			return
		}
	}
	w.exitAt = time.Now()
	r.exited(s, w, ev.status)
}

// exited handles the exit of the slot's worker with status ws, once every
// reply it wrote has been handled.
func (r *supervisor) exited(s *slot, w *worker, ws syscall.WaitStatus) {
	if r.byPid[w.pid] == s {
		delete(r.byPid, w.pid)
	}
	left := s.exited()
	if w.timer != nil {
		w.timer.Stop()
	}
	stopSilence(w, nil)
	if w.eofWait != nil {
		w.eofWait.Stop()
		w.eofWait = nil
	}
	if w.in != nil {
		w.in.Close()
		w.in = nil
	}
	uptime := w.exitAt.Sub(w.started)
	clean := exitStatus(ws) == 0 || (w.phase != phaseRunning && r.stoppedCleanly(ws))
	if w.span != nil {
		r.tel.workerExited(r.ctx, w.span, ws, !clean)
	}
	r.logExit(s, w, ws, uptime)
	if w.exit == nil {
		r.stopLeftovers(w)
	}
	r.mode.exited(s, w, ws, left)
	r.afterExit(s, w, ws, uptime)
}

// afterExit decides what becomes of a slot whose process exited.
func (r *supervisor) afterExit(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) {
	status := exitStatus(ws)
	switch {
	case r.shuttingDown:
		if r.requested && !r.stoppedCleanly(ws) && r.stopStatus == nil {
			r.stopStatus = &status
		}
		r.remove(s)
	case s.retiring:
		r.remove(s)
	case w.tree.ctty >= 0 && w.phase == phaseRunning && ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGQUIT):
		// The worker held the terminal's foreground, so ^C (or ^\)
		// went to it, not to the launcher. As a shell does, its death
		// by that signal is taken as the signal sent to the launcher:
		// a graceful stop of everything, exit 128+signal, whatever the
		// restart policy.
		r.log.Info("worker holding the terminal died of "+signalName(ws.Signal())+": stopping workers", "worker", s.index, "pid", w.pid)
		r.fail(128 + int(ws.Signal()))
		r.remove(s)
	case w.startFailed:
		// A start that never got going is a quick failure, whatever
		// min_uptime says.
		if status == 0 {
			status = 1
		}
		r.applyPolicy(s, RestartAlways, status, 0)
	case w.replace != "" && (status == 0 || (w.phase != phaseRunning && (r.stoppedCleanly(ws) || killedByUs(w, ws)))):
		// Replaced by the launcher's decision (a task's timeout, a
		// recycle, max_rss, a broken protocol): no crash, even when the
		// worker ignored the stop signal and was killed, so one task
		// that always hangs cannot make the slot give up (max_restarts)
		// on the tasks behind it.
		s.start = w.replace
	case w.replace != "":
		// Replaced, but it died of something else first: a crash counts.
		r.applyPolicy(s, RestartAlways, status, uptime)
	default:
		if policy, ok := r.mode.policy(); ok {
			r.applyPolicy(s, policy, status, uptime)
		}
	}
}

// killedByUs reports whether w died of the SIGKILL the launcher sent when
// its stop grace ran out.
func killedByUs(w *worker, ws syscall.WaitStatus) bool {
	return w.killed && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// stoppedCleanly reports whether a worker asked to stop ended as a clean
// stop: exit 0, death by the stop signal, or exit 128+stop signal.
func (r *supervisor) stoppedCleanly(ws syscall.WaitStatus) bool {
	sig := r.cfg.stopSignal
	return exitStatus(ws) == 0 || (ws.Signaled() && ws.Signal() == sig) || ws.ExitStatus() == 128+int(sig)
}

func (r *supervisor) logExit(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) {
	args := []any{"worker", s.index, "pid", w.pid, "status", describeStatus(ws), "uptime", uptime.Round(time.Millisecond)}
	switch {
	case w.span == nil: // a per-task process: its task result says how it went
		r.log.Debug("task process exited", args...)
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && !w.killed:
		r.log.Warn("worker killed by SIGKILL, not by otel-qrun: it may have run out of memory (check the kernel log or the container's memory limit)", args...)
	case exitStatus(ws) != 0 && w.phase == phaseRunning && r.transparent():
		// The status is the user's answer, passed through as tini passes
		// it: not a launcher event.
		r.log.Debug("worker failed", args...)
	case exitStatus(ws) != 0 && w.phase == phaseRunning:
		r.log.Warn("worker failed", args...)
	default:
		r.log.Info("worker exited", args...)
	}
}

// transparent reports whether the launcher is a plain prefix of one
// command: one worker, restart never, no task mode. Its exit status is then
// the worker's, and a failure of the worker is no event of the launcher's.
func (r *supervisor) transparent() bool {
	return len(r.slots) == 1 && r.cfg.restart == RestartNever && r.tasks == nil
}

// applyPolicy applies the restart policy to a slot whose worker ended (or
// could not start) outside a stop.
func (r *supervisor) applyPolicy(s *slot, policy RestartPolicy, status int, uptime time.Duration) {
	cfg := r.cfg
	failed := status != 0
	if uptime >= cfg.minUptime {
		s.quick, s.failures = 0, 0
	}
	switch {
	case policy == RestartNever && failed:
		r.fail(status)
		return
	case policy != RestartAlways && !failed:
		s.finished = true
		return
	}
	quick := uptime < cfg.minUptime
	if quick && failed {
		if s.failures >= cfg.maxRestarts {
			r.log.Error(giveUpMessage(s.index, s.failures, cfg.minUptime), "last_status", status)
			r.fail(status)
			return
		}
		s.failures++
	}
	var delay time.Duration
	if quick {
		s.quick++
		delay = r.l.backoff(s.quick)
	}
	s.pending = true
	s.gen++
	gen := s.gen
	r.log.Debug("restart scheduled", "worker", s.index, "delay", delay.Round(time.Millisecond))
	r.after(delay, func() {
		if s.pending && s.gen == gen && !r.shuttingDown {
			s.pending = false
			s.start = ReasonRestart
		}
	})
}

// fail ends the launcher with status; settle stops the other workers.
func (r *supervisor) fail(status int) {
	if r.failure == nil {
		r.failure = &status
	}
}

// giveUpMessage is the message of the give-up after restarts quick failed
// restarts of worker index in a row.
func giveUpMessage(index, restarts int, minUptime time.Duration) string {
	switch restarts {
	case 0:
		return fmt.Sprintf("worker %d failed before min_uptime (%s) and max_restarts is 0; giving up", index, minUptime)
	case 1:
		return fmt.Sprintf("worker %d keeps failing: 1 restart failed before min_uptime (%s); giving up", index, minUptime)
	}
	return fmt.Sprintf("worker %d keeps failing: %d restarts in a row each failed before min_uptime (%s); giving up", index, restarts, minUptime)
}
