package launcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// sim drives the supervision loop's handlers and its settle step directly,
// event by event, in the order a test chooses. Processes are not forked:
// spawn hands out pids above PID_MAX_LIMIT (2^22), which no process can
// have, so the loop's signals and liveness checks find no process. Timers
// are fired by the test (fire), except the short restart backoff, which
// arrives on r.events and is run by tick.
type sim struct {
	t        *testing.T
	r        *supervisor
	tr       *taskRun
	m        *persistentMode
	pid      int
	workers  []*worker
	attempts []*attempt
	read     int
}

func newSim(t *testing.T, opts ...Option) *sim {
	t.Helper()
	base := []Option{WithTasks(strings.NewReader(""), io.Discard), WithStopGrace(time.Hour), WithTaskTimeout(time.Hour),
		WithBackoff(time.Nanosecond, time.Nanosecond), WithMaxRestarts(1000)}
	l, err := New([]string{"/bin/true"}, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newSupervisor(l, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, r: r, pid: 1 << 23}
	// The test is the loop: it holds mu throughout, so the reply readers
	// of the workers' pipes (which end at once) wait, then drop their
	// events once the run is over.
	r.mu.Lock()
	var stdins []*os.File // the read ends of the workers' stdin, kept open as a process would
	r.spawn = func(req spawnRequest) (*tree, error) {
		s.pid++
		if fd, err := syscall.Dup(int(req.files[0])); err == nil {
			stdins = append(stdins, os.NewFile(uintptr(fd), "stdin"))
		}
		return inertTree(s.pid), nil
	}
	t.Cleanup(func() {
		for _, f := range stdins {
			f.Close()
		}
	})
	r.begin()
	s.tr, s.m = r.tasks, r.mode.(*persistentMode)
	// Results stay in the pending batch, where results() reads them: the
	// writer's goroutine is ended and replaced by an inert writer.
	s.tr.out.giveUp()
	s.tr.out = &resultWriter{r: r, limit: 1 << 30, pending: &resultBatch{},
		kick: make(chan struct{}, 1), progress: make(chan struct{}, 1)}
	t.Cleanup(func() {
		r.over = true
		r.mu.Unlock()
		close(r.quit)
		r.devNull.Close()
	})
	s.settle()
	return s
}

// settle runs the decision step and records new workers and attempts.
func (s *sim) settle() {
	s.r.settle()
	for _, sl := range s.r.slots {
		if w := sl.w; w != nil && (len(s.workers) == 0 || !containsW(s.workers, w)) {
			s.workers = append(s.workers, w)
		}
		for _, a := range sl.inflight {
			if !containsA(s.attempts, a) {
				s.attempts = append(s.attempts, a)
			}
		}
	}
}

func containsW(ws []*worker, w *worker) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

func containsA(as []*attempt, a *attempt) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// tick runs the restart timers that are scheduled (their backoff is 1ns).
func (s *sim) tick() {
	for {
		pending := false
		for _, sl := range s.r.slots {
			pending = pending || sl.pending
		}
		if !pending {
			return
		}
		f := <-s.r.events
		f()
		s.settle()
	}
}

func (s *sim) readTask() {
	s.read++
	s.tr.onRead(readEvent{task: taskproto.Task{ID: fmt.Sprintf("t%d", s.read), Payload: []byte(`1`)}})
	s.settle()
}

func (s *sim) eof() { s.tr.onRead(readEvent{err: io.EOF}); s.settle() }

func (s *sim) reply(w *worker, line string) {
	s.m.onReply(replyEvent{w: w, line: []byte(line)})
	s.settle()
}

func (s *sim) replyEOF(w *worker) { s.m.onReply(replyEvent{w: w, err: io.EOF}); s.settle() }

func (s *sim) exit(w *worker, ws syscall.WaitStatus) {
	s.r.onExit(exitEvent{pid: w.pid, status: ws})
	if !w.replyEOF {
		// A real process's reply pipe ends at its exit.
		s.m.onReply(replyEvent{w: w, err: io.EOF})
	}
	s.settle()
}

func (s *sim) fire(a *attempt) { s.tr.onTimer(a, a.clock); s.settle() }

// results are the result lines written so far, by task id.
func (s *sim) results() map[string][]taskproto.Result {
	out := map[string][]taskproto.Result{}
	b := s.tr.out.pending
	for i, end := range b.ends {
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		line := b.buf[start:end]
		res, err := taskproto.ParseResult(line)
		if err != nil {
			s.t.Fatalf("result line %q: %v", line, err)
		}
		out[res.ID] = append(out[res.ID], res)
	}
	return out
}

func (s *sim) slot0() *slot { return s.r.slots[0] }

// okLine is a worker's ok reply to a.
func okLine(a *attempt) string { return `{"id":"` + a.key.task + `","ok":true}` }

const (
	exited0  = syscall.WaitStatus(0)
	exited3  = syscall.WaitStatus(3 << 8)
	killedBy = syscall.WaitStatus(syscall.SIGKILL)
)

// Each case is one order of events around one attempt on one worker.
func TestSlotEventOrders(t *testing.T) {
	tests := []struct {
		name   string
		run    func(s *sim, w *worker, a *attempt)
		status taskproto.Status
		state  slotState // of the slot at the end
		stale  bool      // the last event was dropped as stale
	}{
		{"reply before the timeout timer", func(s *sim, w *worker, a *attempt) {
			s.reply(w, okLine(a))
			s.fire(a)
		}, "ok", slotReady, true},
		{"timeout timer before the reply", func(s *sim, w *worker, a *attempt) {
			s.fire(a)
			s.reply(w, okLine(a))
		}, "timeout", slotStopping, true},
		{"exit before the reply", func(s *sim, w *worker, a *attempt) {
			s.exit(w, killedBy)
			s.reply(w, okLine(a))
		}, "lost", slotEmpty, true},
		{"exit after the reply", func(s *sim, w *worker, a *attempt) {
			s.reply(w, okLine(a))
			s.exit(w, exited3)
		}, "ok", slotEmpty, false},
		{"result descriptor closed during the task, no exit within the wait", func(s *sim, w *worker, a *attempt) {
			s.replyEOF(w)
			if w.eofWait == nil {
				s.t.Fatal("no wait for the exit armed")
			}
			s.m.closedResults(s.slot0(), w)
			s.settle()
			s.reply(w, okLine(a))
		}, "lost", slotStopping, true},
		{"result descriptor closed during the task, then the exit", func(s *sim, w *worker, a *attempt) {
			s.replyEOF(w)
			if s.slot0().free(1, false) {
				s.t.Error("a worker that closed its result descriptor is free for a task")
			}
			s.exit(w, exited3)
			if res := s.results()["t1"]; len(res) != 1 || res[0].Error != "worker died during the task: exit status 3" {
				s.t.Errorf("result %+v, want the exit status named", res)
			}
			s.m.closedResults(s.slot0(), w) // the wait's timer, after the exit: stale
			s.settle()
		}, "lost", slotEmpty, true},
		{"reply for another task", func(s *sim, w *worker, a *attempt) {
			s.reply(w, `{"id":"other","ok":true}`)
		}, "lost", slotStopping, false},
		{"reply for another attempt", func(s *sim, w *worker, a *attempt) {
			s.reply(w, `{"id":"t1","ok":true,"attempt":7}`)
		}, "lost", slotStopping, false},
		{"timer of a clock restarted at readiness", func(s *sim, w *worker, a *attempt) {
			a.clock = a.clock.Add(-time.Millisecond) // the readiness line's clock is later
			old := a.clock
			s.reply(w, `{"ready":true}`)
			s.tr.onTimer(a, old)
			s.settle()
			s.reply(w, okLine(a))
		}, "ok", slotReady, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			w := s.slot0().w
			if st := s.slot0().state; st != slotStarting {
				t.Fatalf("new worker in state %s", st)
			}
			s.readTask()
			a := s.slot0().head()
			if a == nil || s.slot0().state != slotBusy {
				t.Fatalf("task not given: state %s", s.slot0().state)
			}
			staleBefore := len(s.results())
			tt.run(s, w, a)
			res := s.results()
			if len(res["t1"]) != 1 || res["t1"][0].Status != tt.status {
				t.Errorf("results %+v, want one %s", res, tt.status)
			}
			if tt.stale && len(res) != max(staleBefore, 1) {
				t.Errorf("a stale event changed the results: %+v", res)
			}
			if got := s.slot0().state; got != tt.state && !(tt.state == slotEmpty && got == slotStarting) {
				t.Errorf("slot state %s, want %s", got, tt.state)
			}
		})
	}
}

// A timed-out worker is never given the next task: it stops first, and
// the task waits for its replacement.
func TestSlotTimeoutStopsBeforeDispatch(t *testing.T) {
	s := newSim(t)
	w := s.slot0().w
	s.readTask()
	s.readTask()
	a := s.slot0().head()
	s.fire(a)
	if s.slot0().state != slotStopping || len(s.slot0().inflight) != 0 || w.phase != phaseSignaled {
		t.Fatalf("after the timeout: state %s, %d in flight, phase %d", s.slot0().state, len(s.slot0().inflight), w.phase)
	}
	s.exit(w, syscall.WaitStatus(syscall.SIGTERM))
	nw := s.slot0().w
	if nw == nil || nw == w || s.slot0().head() == nil || s.slot0().head().key.task != "t2" {
		t.Fatalf("t2 not on a new worker: %+v", s.slot0())
	}
}

// Stop during start-up: the worker gets EOF, then exits; nothing runs.
func TestSlotStopDuringStartup(t *testing.T) {
	s := newSim(t)
	w := s.slot0().w
	s.eof()
	if s.slot0().state != slotStopping || w.phase != phaseEOF || w.in != nil {
		t.Fatalf("state %s phase %d", s.slot0().state, w.phase)
	}
	s.exit(w, exited0)
	s.tr.srcDone = true // the reading goroutine is done (it is not run here)
	if !s.r.finished() || s.r.status() != 0 {
		t.Errorf("finished %v status %d", s.r.finished(), s.r.status())
	}
}

// For any sequence of events, each task read ends with exactly one
// result, and an event about an attempt or a process that is no longer
// current changes nothing.
func TestSlotPropertyOneResultPerTask(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { propertyRun(t, seed) })
	}
}

func propertyRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	prefetch := 1
	if seed%2 == 0 {
		prefetch = 2 + rng.IntN(3)
	}
	s := newSim(t, WithWorkers(1+rng.IntN(3)), WithMaxAttempts(1+rng.IntN(3)), WithRecycle(rng.IntN(3)), WithPrefetch(prefetch))
	const tasks = 12
	pick := func() *worker {
		var ws []*worker
		for _, sl := range s.r.slots {
			if sl.w != nil {
				ws = append(ws, sl.w)
			}
		}
		if len(ws) == 0 {
			return nil
		}
		return ws[rng.IntN(len(ws))]
	}
	current := func(w *worker) *slot {
		if sl := s.r.byPid[w.pid]; sl != nil && sl.w == w {
			return sl
		}
		return nil
	}
	for step := 0; step < 60; step++ {
		switch op := rng.IntN(16); {
		case op == 0 && s.read < tasks && !s.tr.eof:
			s.readTask()
		case op == 1:
			if w := pick(); w != nil {
				if a := current(w).head(); a != nil {
					s.reply(w, okLine(a))
				}
			}
		case op == 2:
			if w := pick(); w != nil {
				if a := current(w).head(); a != nil {
					s.reply(w, `{"id":"`+a.key.task+`","ok":false,"error":"e"}`)
				}
			}
		case op == 3:
			if w := pick(); w != nil {
				s.reply(w, `{"ready":true}`)
			}
		case op == 4:
			if w := pick(); w != nil {
				s.reply(w, "garbage")
			}
		case op == 5:
			if w := pick(); w != nil {
				s.replyEOF(w)
			}
		case op == 6 && len(s.attempts) > 0:
			a := s.attempts[rng.IntN(len(s.attempts))]
			if a.over {
				staleUnchanged(t, s, func() { s.fire(a) })
			} else {
				s.fire(a)
			}
		case op == 7:
			if w := pick(); w != nil {
				// The attempts behind the head never ran: they are
				// queued again uncharged, so none gets a result here
				// and none is charged an attempt.
				type held struct {
					ts       *taskState
					attempts int
				}
				var behind []held
				if sl := current(w); sl != nil && len(sl.inflight) > 1 {
					for _, a := range sl.inflight[1:] {
						behind = append(behind, held{a.ts, a.ts.attempts})
					}
				}
				before := s.results()
				s.exit(w, []syscall.WaitStatus{exited0, exited3, killedBy}[rng.IntN(3)])
				after := s.results()
				for _, h := range behind {
					if len(after[h.ts.t.ID]) != len(before[h.ts.t.ID]) && !s.r.shuttingDown {
						t.Fatalf("step %d: task %s behind the head got a result at its worker's exit: %+v", step, h.ts.t.ID, after[h.ts.t.ID])
					}
					if h.ts.attempts > h.attempts {
						t.Fatalf("step %d: task %s behind the head was charged an attempt (%d -> %d)", step, h.ts.t.ID, h.attempts, h.ts.attempts)
					}
				}
			}
		case op == 8 && len(s.workers) > 0:
			w := s.workers[rng.IntN(len(s.workers))]
			if current(w) == nil {
				line := `{"id":"t1","ok":true}`
				staleUnchanged(t, s, func() { s.reply(w, line); s.exit(w, exited0) })
			}
		case op == 9:
			s.tick()
		case op == 10 && rng.IntN(8) == 0:
			s.r.onSignal(syscall.SIGTERM)
			s.settle()
		case op == 11:
			s.r.onSignal([]syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU}[rng.IntN(2)])
			s.settle()
		case op == 12 && s.read >= tasks:
			s.eof()
		case op == 13:
			// A reply for an attempt behind the head: out of order.
			if w := pick(); w != nil {
				if sl := current(w); len(sl.inflight) > 1 {
					s.reply(w, okLine(sl.inflight[1+rng.IntN(len(sl.inflight)-1)]))
				}
			}
		case op == 15:
			// Several ready events handled before one settle, as the
			// loop does: replies of every worker, one a garbage line.
			for _, sl := range append([]*slot(nil), s.r.slots...) {
				if w := sl.w; w != nil {
					line := "garbage"
					if a := sl.head(); a != nil && rng.IntN(4) > 0 {
						line = okLine(a)
					}
					s.m.onReplies(replyBatch{w: w, lines: [][]byte{[]byte(line)}})
				}
			}
			s.settle()
		case op == 14 && len(s.attempts) > 0:
			// A late reply for an attempt that ended, from its worker
			// while that worker is condemned: never credited.
			a := s.attempts[rng.IntN(len(s.attempts))]
			if sl := current(a.w); a.over && sl != nil && a.w.stopNow {
				line := fmt.Sprintf(`{"id":%q,"ok":true,"attempt":%d}`, a.key.task, a.key.attempt)
				staleUnchanged(t, s, func() { s.reply(a.w, line) })
			}
		}
		checkSlots(t, s)
		for id, rs := range s.results() {
			if len(rs) > 1 {
				t.Fatalf("step %d: task %s has %d results: %+v", step, id, len(rs), rs)
			}
		}
	}
	// Let the run end: the input ends, workers answer and exit.
	for s.read < tasks && !s.tr.eof && !s.r.shuttingDown {
		s.readTask()
	}
	s.eof()
	for i := 0; !s.r.finished(); i++ {
		if i > 200 {
			var states []string
			for _, sl := range s.r.slots {
				states = append(states, fmt.Sprintf("%d:%s pending=%v start=%q retiring=%v", sl.index, sl.state, sl.pending, sl.start, sl.retiring))
			}
			t.Fatalf("the run does not end: slots %v, queue %d, in flight %d, stopping %v", states, len(s.tr.queue), s.tr.inflight, s.r.shuttingDown)
		}
		for _, sl := range append([]*slot(nil), s.r.slots...) {
			switch w := sl.w; {
			case w == nil:
			case sl.head() != nil:
				s.reply(w, okLine(sl.head()))
			case sl.state == slotStarting:
				s.reply(w, `{"ready":true}`)
			case sl.state == slotStopping || s.r.shuttingDown:
				s.exit(w, exited0)
			}
		}
		s.tick()
		s.r.tasks.srcDone = true
	}
	res := s.results()
	for i := 1; i <= s.read; i++ {
		if rs := res[fmt.Sprintf("t%d", i)]; len(rs) != 1 {
			t.Errorf("task t%d: %d results %+v", i, len(rs), rs)
		}
	}
}

// staleUnchanged runs f, an event about something no longer current, and
// fails if it changed a result, the queue or an attempt.
func staleUnchanged(t *testing.T, s *sim, f func()) {
	t.Helper()
	before := fmt.Sprint(s.tr.out.pending.len(), len(s.tr.queue), s.tr.inflight, len(s.attempts))
	f()
	if after := fmt.Sprint(s.tr.out.pending.len(), len(s.tr.queue), s.tr.inflight, len(s.attempts)); after != before {
		t.Fatalf("a stale event changed the run: %s -> %s", before, after)
	}
}

// checkSlots checks the invariants of every slot.
func checkSlots(t *testing.T, s *sim) {
	t.Helper()
	inflight := 0
	for _, sl := range s.r.slots {
		inflight += len(sl.inflight)
		switch {
		case (sl.w == nil) != (sl.state == slotEmpty):
			t.Fatalf("slot %d: state %s with worker %v", sl.index, sl.state, sl.w)
		case len(sl.inflight) > s.r.cfg.prefetch:
			t.Fatalf("slot %d: %d attempts in flight", sl.index, len(sl.inflight))
		case sl.state == slotBusy && len(sl.inflight) == 0:
			t.Fatalf("slot %d busy with nothing in flight", sl.index)
		case (sl.state == slotReady || sl.state == slotStarting) && len(sl.inflight) > 0:
			t.Fatalf("slot %d %s with an attempt in flight", sl.index, sl.state)
		}
		for i, a := range sl.inflight {
			if a.over || a.w != sl.w {
				t.Fatalf("slot %d holds an attempt that ended or belongs to another process", sl.index)
			}
			if (a.timer != nil) != (i == 0) {
				t.Fatalf("slot %d: attempt %d in its queue has a timeout clock %v: only the head's runs", sl.index, i, a.timer != nil)
			}
		}
		if sl.w != nil && sl.w.stopNow && len(sl.inflight) > 0 {
			t.Fatalf("slot %d: a worker to stop at once still holds %d attempts", sl.index, len(sl.inflight))
		}
	}
	if inflight != s.tr.inflight {
		t.Fatalf("%d attempts in slots, %d counted in flight", inflight, s.tr.inflight)
	}
}

// ready makes a sim worker announce readiness.
func (s *sim) ready(w *worker) { s.reply(w, `{"ready":true}`) }

// ids are the task ids in flight on sl, head first.
func ids(sl *slot) string {
	var out []string
	for _, a := range sl.inflight {
		out = append(out, fmt.Sprintf("%s#%d", a.key.task, a.key.attempt))
	}
	return strings.Join(out, " ")
}

// With prefetch, a slot holds a queue of attempts: replies in order, only
// the head's timeout clock runs, and a worker that dies or is condemned
// gives back the attempts behind its head uncharged.
func TestSlotPrefetch(t *testing.T) {
	t.Run("queue fills up to prefetch and refills on each reply", func(t *testing.T) {
		s := newSim(t, WithPrefetch(3))
		w := s.slot0().w
		s.ready(w)
		for range 4 {
			s.readTask()
		}
		if got := ids(s.slot0()); got != "t1#1 t2#1 t3#1" || len(s.tr.queue) != 1 {
			t.Fatalf("in flight %q, queued %d", got, len(s.tr.queue))
		}
		a1, a2 := s.slot0().inflight[0], s.slot0().inflight[1]
		if a1.timer == nil || a2.timer != nil {
			t.Fatalf("timers: head %v, second %v; want only the head's", a1.timer != nil, a2.timer != nil)
		}
		s.reply(w, okLine(a1))
		if got := ids(s.slot0()); got != "t2#1 t3#1 t4#1" || a2.timer == nil || a2.clock.Before(a1.clock) {
			t.Fatalf("after the first reply: in flight %q, head timer %v", got, a2.timer != nil)
		}
		if r := s.results(); len(r) != 1 || r["t1"][0].Status != "ok" {
			t.Fatalf("results %+v", r)
		}
	})
	t.Run("death with a queue: head lost, the rest queued again uncharged", func(t *testing.T) {
		s := newSim(t, WithPrefetch(3), WithMaxAttempts(1))
		w := s.slot0().w
		s.ready(w)
		for range 3 {
			s.readTask()
		}
		s.exit(w, killedBy)
		s.tick()
		nw := s.slot0().w
		if nw == nil || nw == w {
			t.Fatal("no new worker")
		}
		s.ready(nw)
		if got := ids(s.slot0()); got != "t2#1 t3#1" {
			t.Fatalf("on the new worker %q, want t2 and t3 at attempt 1, in order", got)
		}
		for s.slot0().head() != nil {
			s.reply(nw, okLine(s.slot0().head()))
		}
		r := s.results()
		if r["t1"][0].Status != "lost" || r["t2"][0].Status != "ok" || r["t2"][0].Attempts != 1 || r["t3"][0].Attempts != 1 {
			t.Fatalf("results %+v", r)
		}
	})
	t.Run("timeout of the head: the rest go elsewhere, late replies are not credited", func(t *testing.T) {
		s := newSim(t, WithPrefetch(2), WithWorkers(2))
		w0, w1 := s.r.slots[0].w, s.r.slots[1].w
		s.ready(w0)
		s.ready(w1)
		s.readTask()
		s.readTask()
		s.readTask() // t1 and t3 on worker 0 (the least loaded), t2 on worker 1
		if got := ids(s.r.slots[0]) + "|" + ids(s.r.slots[1]); got != "t1#1 t3#1|t2#1" {
			t.Fatalf("spread %q", got)
		}
		a1, a3 := s.r.slots[0].inflight[0], s.r.slots[0].inflight[1]
		s.fire(a1)
		if len(s.r.slots[0].inflight) != 0 || !a3.over || w0.phase != phaseSignaled {
			t.Fatalf("after the timeout: %q in flight, t3 over %v, phase %d", ids(s.r.slots[0]), a3.over, w0.phase)
		}
		if got := ids(s.r.slots[1]); got != "t2#1 t3#1" {
			t.Fatalf("t3 not requeued uncharged onto worker 1: %q", got)
		}
		staleUnchanged(t, s, func() { s.reply(w0, `{"id":"t3","ok":true,"attempt":1}`) })
		s.reply(w1, `{"id":"t2","ok":true}`)
		s.reply(w1, `{"id":"t3","ok":true,"attempt":1}`)
		r := s.results()
		if r["t1"][0].Status != "timeout" || r["t3"][0].Status != "ok" || r["t3"][0].Worker != 1 {
			t.Fatalf("results %+v", r)
		}
	})
	t.Run("a reply out of order breaks the protocol", func(t *testing.T) {
		s := newSim(t, WithPrefetch(3))
		w := s.slot0().w
		s.ready(w)
		s.readTask()
		s.readTask()
		s.reply(w, `{"id":"t2","ok":true}`)
		r := s.results()
		if len(r["t1"]) != 1 || r["t1"][0].Status != "lost" || len(r["t2"]) != 0 {
			t.Fatalf("results %+v", r)
		}
		if s.slot0().state != slotStopping || len(s.tr.queue) != 1 || s.tr.queue[0].attempts != 0 {
			t.Fatalf("state %s, queue %d", s.slot0().state, len(s.tr.queue))
		}
	})
	t.Run("recycle bounds the tasks given to a worker", func(t *testing.T) {
		s := newSim(t, WithPrefetch(8), WithRecycle(2))
		w := s.slot0().w
		s.ready(w)
		for range 4 {
			s.readTask()
		}
		if got := ids(s.slot0()); got != "t1#1 t2#1" {
			t.Fatalf("in flight %q, want two (recycle 2)", got)
		}
		s.reply(w, okLine(s.slot0().head()))
		s.reply(w, okLine(s.slot0().head()))
		if w.phase != phaseEOF || s.slot0().state != slotStopping {
			t.Fatalf("recycled worker: phase %d state %s; want a cooperative stop once its queue drained", w.phase, s.slot0().state)
		}
		s.exit(w, exited0)
		s.ready(s.slot0().w)
		if got := ids(s.slot0()); got != "t3#1 t4#1" {
			t.Fatalf("replacement holds %q", got)
		}
	})
	t.Run("end of input stops workers after their queues drain", func(t *testing.T) {
		s := newSim(t, WithPrefetch(4))
		w := s.slot0().w
		s.ready(w)
		s.readTask()
		s.readTask()
		s.eof()
		if w.phase != phaseRunning || w.in == nil {
			t.Fatalf("worker stopped with tasks in its queue: phase %d", w.phase)
		}
		s.reply(w, okLine(s.slot0().head()))
		if w.phase != phaseRunning {
			t.Fatal("worker stopped with one task still in its queue")
		}
		s.reply(w, okLine(s.slot0().head()))
		if w.phase != phaseEOF {
			t.Fatalf("worker not stopped cooperatively once drained: phase %d", w.phase)
		}
	})
	t.Run("SIGTERM: the head gets stop_grace; the tasks behind it had not started and are cancelled", func(t *testing.T) {
		s := newSim(t, WithPrefetch(3))
		w := s.slot0().w
		s.ready(w)
		for range 3 {
			s.readTask()
		}
		s.r.onSignal(syscall.SIGTERM)
		s.settle()
		if w.phase != phaseRunning || len(s.slot0().inflight) != 1 {
			t.Fatalf("the head not given stop_grace, or the rest kept: phase %d, %q", w.phase, ids(s.slot0()))
		}
		s.reply(w, okLine(s.slot0().head()))
		s.settle()
		if w.phase != phaseSignaled {
			t.Fatalf("after the head's reply: phase %d", w.phase)
		}
		s.exit(w, syscall.WaitStatus(syscall.SIGTERM))
		r := s.results()
		if r["t1"][0].Status != "ok" || r["t2"][0].Status != "cancelled" || r["t2"][0].Attempts != 0 ||
			r["t3"][0].Status != "cancelled" || r["t3"][0].Attempts != 0 {
			t.Fatalf("results %+v", r)
		}
	})
}

// A worker stopped (here by the launcher's stop) while still starting,
// under start_timeout, never started the task it was given: the task is
// not charged an attempt (it ends cancelled in a stop), whatever the
// number of workers (it ended lost on the second worker of a give-up).
func TestSilentWorkerStoppedWhileStartingIsNotCharged(t *testing.T) {
	s := newSim(t, WithStartTimeout(time.Hour))
	w := s.slot0().w
	s.readTask()
	if len(s.slot0().inflight) != 1 {
		t.Fatalf("the task was not given to the starting worker: %q", ids(s.slot0()))
	}
	s.r.onSignal(syscall.SIGTERM)
	s.tr.graceOver = true
	s.settle()
	s.exit(w, syscall.WaitStatus(syscall.SIGTERM))
	r := s.results()
	if r["t1"][0].Status != "cancelled" || r["t1"][0].Attempts != 0 {
		t.Fatalf("results %+v", r)
	}
}

// countingHandler counts the log records whose message contains sub.
type countingHandler struct {
	sub string
	n   *int
}

func (countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.sub) {
		*h.n++
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// The silent-worker warning comes once per run whatever the number of
// silent workers, never after a reply, and its timer is stopped by the
// reply or the end of the attempt.
func TestSilentWorkerWarningOrders(t *testing.T) {
	const msg = "has not replied to its first task"
	t.Run("two silent workers, one warning", func(t *testing.T) {
		n := 0
		s := newSim(t, WithWorkers(2), WithLogger(slog.New(countingHandler{msg, &n})), withSilentWait(time.Hour))
		s.readTask()
		s.readTask()
		for _, sl := range s.r.slots {
			w, a := sl.w, sl.head()
			if a == nil || w.silence == nil || w.first != a {
				t.Fatalf("slot %d: no silence timer armed for its first task", sl.index)
			}
			s.m.silentOver(sl, w, a)
		}
		if n != 1 {
			t.Errorf("%d warnings, want 1", n)
		}
		// A worker started later arms no timer: the run has warned.
		w := s.slot0().w
		s.exit(w, killedBy)
		s.tick()
		s.readTask()
		if nw := s.slot0().w; nw == nil || nw == w || nw.given == 0 {
			t.Fatalf("no new worker given a task")
		} else if nw.silence != nil {
			t.Errorf("a new worker after the warning armed a timer")
		}
	})
	// The first task ends before the timer fires: by a reply, or by the
	// attempt's own timeout. A timer that fires anyway is stale.
	for _, tt := range []struct {
		name, what string
		end        func(s *sim, w *worker, a *attempt)
	}{
		{"reply first", "the reply", func(s *sim, w *worker, a *attempt) { s.reply(w, okLine(a)) }},
		{"attempt timed out first", "the end of the attempt", func(s *sim, _ *worker, a *attempt) { s.fire(a) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			s := newSim(t, WithLogger(slog.New(countingHandler{msg, &n})), withSilentWait(time.Hour))
			s.readTask()
			sl := s.slot0()
			w, a := sl.w, sl.head()
			tt.end(s, w, a)
			if w.silence != nil {
				t.Errorf("%s did not stop the timer", tt.what)
			}
			s.m.silentOver(sl, w, a)
			if n != 0 {
				t.Errorf("%d warnings after %s", n, tt.what)
			}
		})
	}
}
