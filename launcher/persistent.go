package launcher

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// persistentMode feeds task lines to long-lived workers on their stdin and
// reads their replies (and readiness line) on fd 3.
type persistentMode struct {
	r       *supervisor
	line    []byte               // the task line being written, reused
	carrier propagate.MapCarrier // the carrier being written, reused
	staged  []*taskPipe          // stdins with task lines staged by give
	// stagedSlots[i] is the slot whose stdin is staged[i].
	stagedSlots []*slot
	// announces becomes true at the first readiness line of the run: from
	// then on a new worker gets no task before its own readiness line.
	announces bool
}

func (m *persistentMode) startsWorkers() bool           { return true }
func (m *persistentMode) policy() (RestartPolicy, bool) { return RestartAlways, true }
func (m *persistentMode) persistent() bool              { return true }

// freeSlot picks the slot with the fewest attempts in flight (the lowest
// index among equals) that can take one more: below prefetch, and below
// what is left of recycle, so a worker is never given a task it would not
// run before being replaced.
func (m *persistentMode) freeSlot() *slot {
	var best *slot
	limit, recycle := m.r.cfg.prefetch, m.r.cfg.recycle
	for _, s := range m.r.slots {
		if !s.free(limit, m.announces) || (recycle > 0 && s.w.given >= recycle) {
			continue
		}
		if best == nil || len(s.inflight) < len(best.inflight) {
			best = s
			if len(s.inflight) == 0 {
				break
			}
		}
	}
	return best
}

// startWorker starts a persistent task worker with a task pipe on its
// stdin and a reply pipe on fd 3.
func (m *persistentMode) startWorker(s *slot, reason Reason) error {
	r := m.r
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("stdin pipe: %w", err)
	}
	replyR, replyW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return fmt.Errorf("reply pipe: %w", err)
	}
	err = r.startWith(s, reason, startSpec{env: []string{qrun.EnvResultFD + "=" + fmt.Sprint(qrun.ResultFD)}, stdin: stdinR, fd3: replyW})
	stdinR.Close()
	replyW.Close()
	if err != nil {
		stdinW.Close()
		replyR.Close()
		return err
	}
	w := s.w
	w.in = newTaskPipe(stdinW, &r.lingering)
	go m.readReplies(w, replyR)
	r.lingering.Add(1)
	go w.in.watchHangup(func() { r.handle(func() { m.stdinClosed(s, w) }) })
	if d := r.cfg.startTimeout; d > 0 {
		r.after(d, func() { m.startTimeoutOver(s, w) })
	}
	return nil
}

// startTimeoutOver is start_timeout after w started: a worker that has
// written neither its readiness line nor a reply is replaced and counted
// as a failed start, whatever the other workers of the run did; a task it
// holds is queued again without being charged an attempt.
func (m *persistentMode) startTimeoutOver(s *slot, w *worker) {
	if s.w != w || w.heard || s.state == slotStopping || w.exit != nil {
		return
	}
	m.r.log.Warn("worker did not become ready within start_timeout; replacing it",
		"worker", s.index, "pid", w.pid, "start_timeout", m.r.cfg.startTimeout)
	w.startFailed, w.stopNow = true, true
	m.r.tasks.requeueHeld(s) // never started: no attempt is charged
}

// give stages the task line of a for the worker of s, behind the tasks it
// holds; flushWrites writes it at the end of the dispatch step. Its timeout clock starts when it is at the head of the worker's
// queue: now, or when the attempt before it ends (finishAttempt); if the
// worker has not announced readiness yet, the readiness line restarts it.
func (m *persistentMode) give(s *slot, a *attempt) error {
	r := m.r
	ts := a.ts
	s.take(a)
	a.w = s.w
	a.w.given++
	if a.w.given == 1 && !r.silentWarned && r.cfg.silentWait > 0 {
		w := a.w
		w.first = a
		w.silence = r.after(r.cfg.silentWait, func() { m.silentOver(s, w, a) })
	}
	carrier := ts.t.Carrier
	if r.cfg.propagator != nil {
		if m.carrier == nil {
			m.carrier = propagate.MapCarrier{}
		}
		carrier = propagate.InjectMapInto(a.ctx, r.cfg.propagator, m.carrier)
	}
	m.line = taskproto.AppendWorkerTask(m.line[:0], taskproto.WorkerTask{
		ID: ts.t.ID, Payload: ts.t.Payload, Carrier: carrier, Attempt: ts.attempts,
	})
	a.line = len(m.line)
	if s.head() == a {
		r.tasks.startClock(a)
	}
	if len(s.w.in.staged) == 0 {
		m.staged = append(m.staged, s.w.in)
		m.stagedSlots = append(m.stagedSlots, s)
	}
	s.w.in.stage(m.line)
	return nil
}

// silentOver is silentWait after w was given its first task a: when w
// has still not replied to it, the run logs its one warning that the
// command may not speak the task protocol (the usual mistake of a new
// user: a plain command in persistent task mode, which never replies, and
// with no timeout the run would wait for ever without a word). The task's
// outcome does not change.
func (m *persistentMode) silentOver(s *slot, w *worker, a *attempt) {
	r := m.r
	w.silence = nil
	if r.silentWarned || a.over || s.w != w || w.answered > 0 || w.replyEOF || w.exit != nil {
		return
	}
	r.silentWarned = true
	d := r.cfg.silentWait
	r.log.Warn("worker has not replied to its first task within "+d.String()+
		"; persistent workers write a reply line on fd 3 (QRUN_RESULT_FD, docs/protocol.md);"+
		" a command that handles one task per process wants --per-task;"+
		" a task that legitimately takes longer can ignore this (or set timeout)",
		"worker", s.index, "pid", w.pid, "task", a.key.task, "after", d)
}

// stopSilence stops w's silentOver timer when a is its first task (a nil:
// whatever the task).
func stopSilence(w *worker, a *attempt) {
	if w == nil || w.silence == nil || (a != nil && w.first != a) {
		return
	}
	w.silence.Stop()
	w.silence, w.first = nil, nil
}

// flushWrites writes the task lines staged by give, one write per worker:
// the dispatch step calls it when it is done, before anything could close
// a worker's stdin.
func (m *persistentMode) flushWrites() {
	for i, p := range m.staged {
		p.flushStaged()
		s := m.stagedSlots[i]
		if p.isBroken() && s.w != nil && s.w.in == p {
			m.stdinClosed(s, s.w) // EPIPE, before its hang-up was seen
		}
		m.staged[i], m.stagedSlots[i] = nil, nil
	}
	m.staged, m.stagedSlots = m.staged[:0], m.stagedSlots[:0]
}

// stdinClosed handles a running worker w that closed its stdin
// (taskPipe.watchHangup, or a write that failed with EPIPE): it can take
// no more tasks. The task lines it
// never read, still whole in the pipe or never written into it, are
// queued again without a charge, as for a worker that exited (unreached);
// when it never answered a task, the oldest of them ends lost instead (as
// in unsent), so that a worker that closes its stdin at once cannot hold
// the tasks forever. What it did read stays in flight, and it is replaced
// once that is answered.
func (m *persistentMode) stdinClosed(s *slot, w *worker) {
	r, tr := m.r, m.r.tasks
	if s.w != w || w.exit != nil || w.stopNow || w.in == nil || s.state == slotStopping || w.stdinClosed {
		return // it exited, is being stopped (that settles its tasks), or was handled
	}
	w.stdinClosed = true
	left := append([]*attempt(nil), s.inflight...)
	unread := unreadBytes(w.in) + w.in.unsentBytes()
	n := 0
	for i := len(left) - 1; i >= 0 && left[i].line > 0 && unread >= left[i].line; i-- {
		unread -= left[i].line
		n++
	}
	charged := 0
	for i := len(left) - 1; i >= len(left)-n; i-- { // back to front: they keep their order
		if i == 0 && w.answered == 0 {
			tr.endAttempt(left[0], taskproto.StatusLost, "worker closed its stdin before it read the task", nil)
			charged++
			continue
		}
		tr.requeue(left[i], "the worker closed its stdin before it read the task")
	}
	if held := len(left) - n; held > 0 {
		// A reader that buffers its stdin (Python's readline, Go's
		// bufio) took every line written ahead: they are its own now.
		r.log.Warn("worker closed its stdin; it is replaced once it has answered the tasks it read"+
			" (a worker that reads ahead holds every line it took; timeout bounds them)",
			"worker", s.index, "pid", w.pid, "held", held, "queued_again", n-charged, "charged", charged)
	} else {
		r.log.Warn("worker closed its stdin; replacing it",
			"worker", s.index, "pid", w.pid, "queued_again", n-charged, "charged", charged)
	}
	if w.replace == "" {
		w.replace = ReasonRestart
	}
}

// exited ends the attempts that were in flight on a worker that exited:
// the head by the usual rules (lost, or queued again uncharged when the
// worker never became ready), the ones behind it, which the worker had not
// started, queued again without an attempt charged. They go back to the
// front of the queue in their order.
func (m *persistentMode) exited(s *slot, w *worker, ws syscall.WaitStatus, left []*attempt) {
	tr := m.r.tasks
	// Back to front, so that the tasks queued again keep their order.
	for i := len(left) - 1; i >= 1; i-- {
		tr.requeue(left[i], "the worker exited before it reached the task")
	}
	if len(left) == 0 {
		return
	}
	switch {
	case w.startFailed:
		tr.requeue(left[0], "the worker did not become ready")
	case !w.heard && (m.announces || m.r.cfg.startTimeout > 0):
		// It was still starting (workers of this run announce
		// readiness, or start_timeout bounds a silent start-up) when it
		// was stopped: the task never started, and is not charged.
		tr.requeue(left[0], "the worker exited before it became ready")
	case unreached(w, left[:1], w.unread-pendingBehind(left)) == 1:
		tr.requeue(left[0], "the worker exited before it read the task")
	default:
		tr.endAttempt(left[0], taskproto.StatusLost, "worker died during the task: "+describeStatus(ws), nil)
	}
}

// pendingBehind is the bytes of the task lines behind the head of as (the
// oldest), which sit after the head's line in the worker's stdin.
func pendingBehind(as []*attempt) int {
	n := 0
	for _, a := range as[1:] {
		n += a.line
	}
	return n
}

// unreached is how many of the last attempts of as (oldest first) never
// reached the worker w: their task lines are still whole in its stdin
// pipe, which holds unread bytes. Only a worker that has answered a task
// is trusted so: it exited (or closed fd 3) after its last answer, as a
// worker with a request limit does, and the task it never read is queued
// again without being charged. A worker that never answered is charged,
// so one that exits at once cannot hold a task forever.
func unreached(w *worker, as []*attempt, unread int) int {
	if w.answered == 0 {
		return 0
	}
	n := 0
	for i := len(as) - 1; i >= 0 && as[i].line > 0 && unread >= as[i].line; i-- {
		unread -= as[i].line
		n++
	}
	return n
}

// unreadBytes is the number of bytes written to the worker's stdin pipe p
// and not read yet (FIONREAD); 0 when p is nil or it cannot be told.
func unreadBytes(p *taskPipe) int {
	if p == nil {
		return 0
	}
	rc, err := p.f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), fionread); err == nil {
			n = v
		}
	})
	return n
}

// readReplies handles a worker's reply lines until the pipe ends: every
// line one read gave is handled together, in place, under the supervisor's
// lock (see supervisor.mu): the reader settles the run itself, so the next
// task line goes out without a hop to the loop goroutine.
func (m *persistentMode) readReplies(w *worker, f *os.File) {
	defer f.Close()
	lr := taskproto.NewLineReader(f, m.r.cfg.maxLine)
	var ends []int // where each line ends in buf; -1: too long
	var buf []byte // the lines of a batch, copied out of the reader's buffer
	var lines [][]byte
	for {
		ev := replyBatch{w: w}
		buf, ends, lines = buf[:0], ends[:0], lines[:0]
		for {
			line, _, err := lr.ReadLine()
			if err != nil {
				if !errors.Is(err, taskproto.ErrLineTooLong) {
					ev.err = err
					break
				}
				ends = append(ends, -1)
			} else {
				buf = append(buf, line...)
				ends = append(ends, len(buf))
			}
			if !lr.HasLine() {
				break
			}
		}
		start := 0
		for _, end := range ends {
			if end < 0 {
				lines = append(lines, nil) // a nil line: too long
				continue
			}
			lines = append(lines, buf[start:end:end])
			start = end
		}
		ev.lines = lines
		if !m.r.handle(func() { m.onReplies(ev) }) {
			return
		}
		if ev.err != nil {
			return
		}
	}
}

// onReplies handles the lines (and the end) a worker's result descriptor
// gave in one read.
func (m *persistentMode) onReplies(b replyBatch) {
	for _, line := range b.lines {
		ev := replyEvent{w: b.w, line: line}
		if line == nil {
			ev.err = taskproto.ErrLineTooLong
		}
		m.onReply(ev)
	}
	if b.err != nil {
		m.onReply(replyEvent{w: b.w, err: b.err})
	}
}

// onReply handles one line (or the end) of a worker's result descriptor.
// A reply is credited only to the attempt at the head of its own worker's
// queue, with the same task id (and attempt, when the worker echoes it);
// anything about a process or attempt that is no longer current is
// dropped and counted.
func (m *persistentMode) onReply(ev replyEvent) {
	r, tr, w := m.r, m.r.tasks, ev.w
	s := r.byPid[w.pid]
	if s == nil || s.w != w {
		if ev.err == nil {
			r.tel.staleEvent(r.ctx, "reply")
		}
		return
	}
	if ev.err != nil && !errors.Is(ev.err, taskproto.ErrLineTooLong) {
		w.replyEOF = true
		if w.exit != nil {
			// Every reply written before the exit is in: the exit
			// can be charged now.
			r.exited(s, w, w.exit.status)
			return
		}
		if s.state == slotStopping || w.phase != phaseRunning || w.stopNow {
			return
		}
		if len(s.inflight) > 0 && r.cfg.eofExitWait > 0 {
			// The usual cause is the end of the process: its exit,
			// when it comes within eofExitWait, settles the tasks
			// it held (exited) and names how it ended. Meanwhile it
			// takes no task.
			w.replace = ReasonRestart
			w.eofWait = r.after(r.cfg.eofExitWait, func() { m.closedResults(s, w) })
			return
		}
		m.closedResults(s, w)
		return
	}
	a := s.head()
	if w.stopNow || (a == nil && s.state == slotStopping) {
		// The attempt it may be about ended already (a timeout, say),
		// and a worker condemned is credited nothing more: the tasks it
		// held are queued again.
		r.tel.staleEvent(r.ctx, "reply")
		return
	}
	var rep taskproto.Reply
	err := ev.err
	if err == nil {
		rep, err = taskproto.ParseReply(ev.line)
	}
	if err == nil && rep.Ready {
		if s.state == slotStopping {
			return
		}
		silent := !w.heard
		w.announced, m.announces = true, true
		s.heard()
		if a := s.head(); a != nil && silent {
			tr.startClock(a) // start-up is not charged to the task
		}
		return
	}
	s.heard()
	stopSilence(w, nil) // it speaks the protocol: no warning
	switch {
	case err != nil:
	case a == nil:
		err = fmt.Errorf("reply for task %q with no task in flight", rep.ID)
	case rep.ID != a.key.task:
		err = fmt.Errorf("reply for task %q while task %q is in flight", rep.ID, a.key.task)
	case rep.Attempt != 0 && rep.Attempt != a.key.attempt:
		err = fmt.Errorf("reply for attempt %d of task %q while attempt %d is in flight", rep.Attempt, rep.ID, a.key.attempt)
	}
	if err != nil {
		r.log.Warn("worker broke the reply protocol; replacing it", "worker", s.index, "error", err)
		if a != nil {
			tr.endAttempt(a, taskproto.StatusLost, "worker replied incorrectly: "+err.Error(), nil)
		}
		w.replace, w.stopNow = ReasonRestart, true
		return
	}
	w.answered++
	if n := r.cfg.recycle; n > 0 && w.answered >= n {
		r.log.Debug("recycling worker", "worker", s.index, "tasks", w.answered)
		w.replace = ReasonRecycle
	}
	if rep.OK {
		tr.endAttempt(a, taskproto.StatusOK, "", rep.Result)
	} else {
		tr.endAttempt(a, taskproto.StatusError, rep.Error, rep.Result)
	}
}

// closedResults handles a running worker w that closed its result
// descriptor and has not exited (within eofExitWait when it held tasks):
// it can no longer reply, so whatever it holds is lost, but a task line it
// never read (see unreached), and it is replaced.
func (m *persistentMode) closedResults(s *slot, w *worker) {
	r, tr := m.r, m.r.tasks
	w.eofWait = nil
	if s.w != w || w.exit != nil || s.state == slotStopping || w.phase != phaseRunning || w.stopNow {
		return // it exited, or is being stopped: its exit settles its tasks
	}
	r.log.Warn("worker closed its result descriptor; replacing it", "worker", s.index, "pid", w.pid)
	left := append([]*attempt(nil), s.inflight...)
	for i := len(left) - 1; i >= 1; i-- { // back to front: they keep their order
		tr.requeue(left[i], "the worker closed its result descriptor before it reached the task")
	}
	if len(left) > 0 {
		if unreached(w, left[:1], unreadBytes(w.in)-pendingBehind(left)) == 1 {
			tr.requeue(left[0], "the worker closed its result descriptor before it read the task")
		} else {
			tr.endAttempt(left[0], taskproto.StatusLost, "worker closed its result descriptor (fd 3) during the task and is still running", nil)
		}
	}
	w.replace, w.stopNow = ReasonRestart, true
}
