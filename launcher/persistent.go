package launcher

import (
	"bufio"
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
	r *run
	// announces becomes true at the first readiness line of the run: from
	// then on a new worker gets no task before its own readiness line.
	announces bool
}

// capacity is the number of attempts in flight per worker.
const capacity = 1

func (m *persistentMode) startsWorkers() bool           { return true }
func (m *persistentMode) policy() (RestartPolicy, bool) { return RestartAlways, true }
func (m *persistentMode) persistent() bool              { return true }

func (m *persistentMode) freeSlot() *slot {
	for _, s := range m.r.slots {
		if s.free(capacity, m.announces) {
			return s
		}
	}
	return nil
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
	w.in = stdinW
	go m.readReplies(w, replyR)
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
	for _, a := range append([]*attempt(nil), s.inflight...) {
		m.r.tasks.requeue(a)
	}
}

// give writes the task line of a to the worker of s. Its timeout clock
// starts now; if the worker has not announced readiness yet, the
// readiness line restarts it.
func (m *persistentMode) give(s *slot, a *attempt) error {
	r := m.r
	ts := a.ts
	s.take(a)
	a.w = s.w
	carrier := ts.t.Carrier
	if r.cfg.propagator != nil {
		carrier = propagate.InjectMap(a.ctx, r.cfg.propagator)
	}
	line := taskproto.AppendWorkerTask(nil, taskproto.WorkerTask{
		ID: ts.t.ID, Payload: ts.t.Payload, Carrier: carrier, Attempt: ts.attempts,
	})
	a.line = len(line)
	r.tasks.startClock(a)
	// With one task in flight the worker has read everything before: a
	// line up to PIPE_BUF fits the empty pipe and is written at once. A
	// longer one could fill it, and the loop never waits on a worker. A
	// failed write shows up as the worker's exit.
	if len(line) <= pipeBuf {
		if _, err := s.w.in.Write(line); err != nil {
			m.unsent(s, a, err)
		}
		return nil
	}
	go func(in *os.File) { _, _ = in.Write(line) }(s.w.in)
	return nil
}

// unsent ends an attempt whose task line could not be written: the
// worker closed its stdin (EPIPE) and can take no task, so it is replaced.
// The task never reached it: like a line left unread (see unreached), it
// is queued again without a charge when the worker has answered a task
// before, else it ends lost, so a worker that closes its stdin at once
// cannot hold the tasks forever.
func (m *persistentMode) unsent(s *slot, a *attempt, err error) {
	r, w := m.r, s.w
	r.log.Warn("cannot write a task line to the worker; replacing it", "worker", s.index, "pid", w.pid, "error", err)
	w.replace, w.stopNow = ReasonRestart, true
	if w.done > 0 {
		r.tasks.requeue(a)
		return
	}
	r.tasks.endAttempt(a, taskproto.StatusLost, "worker closed its stdin: the task line could not be written", nil)
}

// pipeBuf is POSIX's PIPE_BUF, the size of a write a pipe takes whole.
const pipeBuf = 4096

func (m *persistentMode) exited(s *slot, w *worker, ws syscall.WaitStatus, left []*attempt) {
	never := unreached(w, left, w.unread)
	for i, a := range left {
		switch {
		case w.startFailed, i >= len(left)-never:
			m.r.tasks.requeue(a)
		default:
			m.r.tasks.endAttempt(a, taskproto.StatusLost, "worker died during the task: "+describeStatus(ws), nil)
		}
	}
}

// unreached is how many of the last attempts of as (oldest first) never
// reached the worker w: their task lines are still whole in its stdin
// pipe, which holds unread bytes. Only a worker that has answered a task
// is trusted so: it exited (or closed fd 3) after its last answer, as a
// worker with a request limit does, and the task it never read is queued
// again without being charged. A worker that never answered is charged,
// so one that exits at once cannot hold a task forever.
func unreached(w *worker, as []*attempt, unread int) int {
	if w.done == 0 {
		return 0
	}
	n := 0
	for i := len(as) - 1; i >= 0 && as[i].line > 0 && unread >= as[i].line; i-- {
		unread -= as[i].line
		n++
	}
	return n
}

// unreadBytes is the number of bytes written to the pipe f and not read
// yet (FIONREAD); 0 when f is nil or it cannot be told.
func unreadBytes(f *os.File) int {
	if f == nil {
		return 0
	}
	rc, err := f.SyscallConn()
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

// readReplies hands a worker's reply lines to the loop until the pipe ends.
func (m *persistentMode) readReplies(w *worker, f *os.File) {
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	max := m.r.cfg.maxLine
	for {
		line, err := readLine(br, max)
		select {
		case m.r.tasks.replies <- replyEvent{w: w, line: line, err: err}:
		case <-m.r.quit:
			return
		}
		if err != nil && !errors.Is(err, errLongReply) {
			return
		}
	}
}

// readLine reads one line of at most max bytes; a longer one is consumed
// and reported as errLongReply.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > max+1 {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && len(line) == 0 && !long:
			return nil, err
		}
		if long {
			return nil, errLongReply
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		return line, nil
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
	if ev.err != nil && !errors.Is(ev.err, errLongReply) {
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
		// The worker can no longer reply: whatever it holds is lost,
		// but a task line it never read (see unreached).
		r.log.Warn("worker closed its result descriptor; replacing it", "worker", s.index, "pid", w.pid)
		left := append([]*attempt(nil), s.inflight...)
		never := unreached(w, left, unreadBytes(w.in))
		for i, a := range left {
			if i >= len(left)-never {
				tr.requeue(a)
			} else {
				tr.endAttempt(a, taskproto.StatusLost, "worker closed its result descriptor (fd 3) during the task", nil)
			}
		}
		w.replace, w.stopNow = ReasonRestart, true
		return
	}
	a := s.head()
	if a == nil && (s.state == slotStopping || w.stopNow) {
		// The attempt it may be about ended already (a timeout, say).
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
	w.done++
	if n := r.cfg.recycle; n > 0 && w.done >= n {
		r.log.Debug("recycling worker", "worker", s.index, "tasks", w.done)
		w.replace = ReasonRecycle
	}
	if rep.OK {
		tr.endAttempt(a, taskproto.StatusOK, "", rep.Result)
	} else {
		tr.endAttempt(a, taskproto.StatusError, rep.Error, rep.Result)
	}
}
