package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

// taskState is one task read from the input, across its attempts.
type taskState struct {
	t          taskproto.Task
	handle     any             // the source's mark of the task
	parent     context.Context // the task carrier's context; nil for a new root
	attempts   int             // the number of the last attempt, counting those before it came here
	base       int             // attempts made before the task came here (TaskSource)
	dequeued   bool            // it left the input's queue: its queue_limit token is released
	first      time.Time
	worker     int
	traceID    string
	lastStatus taskproto.Status
	lastErr    string
}

type readEvent struct {
	task   taskproto.Task
	handle any
	err    error
}

// replyEvent is one line a persistent worker wrote on its result
// descriptor, or the end of that descriptor (err).
type replyEvent struct {
	w    *worker
	line []byte
	err  error // the reply pipe ended or a reply was too long
}

// replyBatch is what one read of a worker's result descriptor gave: the
// whole lines (nil for one longer than max_line), then err when the
// descriptor ended.
type replyBatch struct {
	w     *worker
	lines [][]byte
	err   error
}

// taskRun is the task mode part of a run: the queue, the attempts, the
// input and the results. Like run, it is owned by the goroutine in Run.
type taskRun struct {
	r          *supervisor
	src        taskSource
	out        *resultWriter
	reads      chan []readEvent // what one read of the source gave
	tokens     chan struct{}    // one per task read and not yet dispatched: queue_limit
	stopRead   chan struct{}
	readerDone chan struct{} // closed when the reading goroutine is done
	reading    bool
	srcDone    bool // the reading goroutine is done
	srcAway    bool // at the stop, the source was blocked on input it had not consumed
	eof        bool
	failed     bool // a task ended other than ok, or the input could not be read
	finishing  bool // a requested stop: tasks in flight finish, nothing new starts
	graceOver  bool // the stop_grace of finishInFlight is over
	queue      []*taskState
	inflight   int
	seq        uint64
	name       string
	// spanName and spanAttrs are what every CONSUMER span of the run
	// shares, built once (a TaskSource's attributes may add to them).
	spanName     string
	spanAttrs    []attribute.KeyValue
	spanAttrsOpt trace.SpanStartEventOption // WithAttributes(spanAttrs...)
	opts         []trace.SpanStartOption    // reused by startAttempt
}

func newTaskRun(r *supervisor) *taskRun {
	cfg := r.cfg
	tr := &taskRun{
		r:          r,
		src:        cfg.chooseSource(),
		reads:      make(chan []readEvent),
		tokens:     make(chan struct{}, cfg.queueLimit),
		stopRead:   make(chan struct{}),
		readerDone: make(chan struct{}),
		reading:    true,
		name:       cfg.cluster,
		spanName:   "process " + cfg.destinationName(),
		spanAttrs: []attribute.KeyValue{
			attribute.String("messaging.system", "otel_qrun"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", cfg.destinationName()),
		},
	}
	tr.spanAttrsOpt = trace.WithAttributes(tr.spanAttrs...)
	tr.out = newResultWriter(r, cfg.chooseSink(), max(cfg.queueLimit, 64))
	go tr.read()
	return tr
}

// read runs in its own goroutine: it reads a task when a token says there
// is room in the queue, and hands it to the loop. After a stop it hands on
// what the source had consumed (each gets its result), then ends.
func (tr *taskRun) read() {
	defer close(tr.readerDone)
	rs, _ := tr.src.(readySource)
	for {
		select {
		case tr.tokens <- struct{}{}:
		case <-tr.stopRead:
		}
		var batch []readEvent
		for {
			t, h, err := tr.src.Next()
			batch = append(batch, readEvent{task: t, handle: h, err: err})
			if endsReading(err) || rs == nil || !rs.ready() || !tr.takeToken() {
				break
			}
		}
		select {
		case tr.reads <- batch:
		case <-tr.r.quit:
			return
		}
		if endsReading(batch[len(batch)-1].err) {
			return
		}
	}
}

// takeToken takes a queue_limit token when one is free, without waiting.
func (tr *taskRun) takeToken() bool {
	select {
	case tr.tokens <- struct{}{}:
		return true
	default:
		return false
	}
}

// endsReading reports whether err from a source's Next is its last: the
// end of the input or a failed read, not a line that is no task.
func endsReading(err error) bool {
	var le *taskproto.LineError
	var ended *EndedError
	return err != nil && !errors.As(err, &le) && !errors.As(err, &ended)
}

// taskChannels are the channels of task mode the loop selects on; a nil
// channel is not ready (reading input pauses while results back up).
type taskChannels struct {
	reads      <-chan []readEvent
	readerDone <-chan struct{}
	progress   <-chan struct{}
	// outClosed is closed when the reader of the results went away; nil
	// once the loop has acted on it.
	outClosed <-chan struct{}
}

func (tr *taskRun) channels() taskChannels {
	if tr == nil {
		return taskChannels{}
	}
	var c taskChannels
	if !tr.r.outClosed {
		c.outClosed = tr.out.closedCh
	}
	if !tr.srcDone {
		c.readerDone = tr.readerDone
	}
	if tr.out.full() {
		c.progress = tr.out.progress
	} else {
		c.reads = tr.reads
	}
	return c
}

func (tr *taskRun) release() {
	select {
	case <-tr.tokens:
	default:
	}
}

// onReads handles the tasks (and errors) one read of the source gave.
func (tr *taskRun) onReads(evs []readEvent) {
	for _, ev := range evs {
		tr.onRead(ev)
	}
}

func (tr *taskRun) onRead(ev readEvent) {
	var le *taskproto.LineError
	var cut *cutLineError
	var ended *EndedError
	switch {
	case errors.As(ev.err, &cut):
		tr.release()
		tr.cancel(&taskState{t: taskproto.Task{ID: cut.id}, handle: ev.handle, worker: -1})
	case ev.err == nil:
		ts := &taskState{t: ev.task, handle: ev.handle, worker: -1}
		ts.base = tr.priorAttempts(ev.handle)
		ts.attempts = ts.base
		ts.parent = tr.carrierContext(ev.task.Carrier)
		if !tr.reading {
			tr.release()
			tr.cancel(ts)
			return
		}
		tr.r.tel.taskQueued(1)
		tr.queue = append(tr.queue, ts)
	case errors.As(ev.err, &ended):
		tr.release()
		tr.writeResult(&taskState{t: taskproto.Task{ID: ended.ID}, handle: ev.handle, worker: -1, attempts: ended.Attempts},
			ended.Status, ended.Err.Error(), nil)
	case errors.As(ev.err, &le):
		tr.release()
		tr.writeResult(&taskState{t: taskproto.Task{ID: le.ID}, handle: ev.handle, worker: -1}, taskproto.StatusInvalid, le.Error(), nil)
	default:
		tr.eof = true
		if !errors.Is(ev.err, io.EOF) {
			tr.failed = true
			tr.r.log.Error("reading tasks failed; no more tasks are read", "error", ev.err)
		}
	}
}

// onDrained: the reading goroutine is done.
func (tr *taskRun) onDrained() { tr.srcDone = true }

// inputDone reports whether every task the source consumed has been
// handed to the loop.
func (tr *taskRun) inputDone() bool { return tr.srcDone || tr.srcAway }

// carrierContext is the context of a task's carrier when it holds a valid
// span context, else nil (the task span is then a new root).
func (tr *taskRun) carrierContext(c propagate.MapCarrier) context.Context {
	p := tr.r.cfg.propagator
	if c == nil || p == nil {
		return nil
	}
	ctx, err := propagate.ExtractMap(context.Background(), p, c)
	if err != nil {
		tr.r.log.Debug("ignoring an invalid task carrier", "error", err)
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	return ctx
}

// dispatch starts queued tasks while a slot can take one (step 2 of
// settle).
func (tr *taskRun) dispatch() {
	r := tr.r
	if m, ok := r.mode.(*persistentMode); ok {
		defer m.flushWrites() // the lines given to one worker in one write
	}
	for len(tr.queue) > 0 && !r.shuttingDown && !tr.finishing {
		s := r.mode.freeSlot()
		if s == nil {
			return
		}
		ts := tr.queue[0]
		tr.queue = tr.queue[1:]
		tr.dequeue(ts)
		if !tr.startAttempt(ts, s) {
			return // a start failed: try again at the next event
		}
	}
}

// dequeue releases the queue_limit token of a task leaving the queue for
// the first time (a task queued again after a retry or a requeue holds
// none).
func (tr *taskRun) dequeue(ts *taskState) {
	if ts.dequeued {
		return
	}
	ts.dequeued = true
	tr.release()
	tr.r.tel.taskQueued(-1)
}

// startAttempt starts the next attempt of ts on s; false when it could not
// be given to a process.
func (tr *taskRun) startAttempt(ts *taskState, s *slot) bool {
	r := tr.r
	extra, ok := tr.beginAttempt(ts, ts.attempts+1)
	if !ok {
		return true // another consumer took the task: no result here, the slot stays free
	}
	ts.attempts++
	if ts.first.IsZero() {
		ts.first = time.Now()
	}
	ts.worker = s.index
	if s.clientID.Key == "" {
		s.clientID = attribute.String("messaging.client.id", tr.name+"/"+strconv.Itoa(s.index))
	}
	// The run's constant attributes go in as one option built once (the
	// SDK copies them into the span): only these three are made per task.
	own := []attribute.KeyValue{attribute.String("messaging.message.id", ts.t.ID), s.clientID, attribute.Int("qrun.task.attempt", ts.attempts)}
	opts := append(tr.opts[:0], trace.WithSpanKind(trace.SpanKindConsumer))
	name := tr.spanName
	if len(extra) > 0 {
		attrs := withAttrs(append(append([]attribute.KeyValue(nil), tr.spanAttrs...), own...), extra)
		opts = append(opts, trace.WithAttributes(attrs...))
		if d := destination("", extra); d != "" {
			name = "process " + d
		}
	} else {
		opts = append(opts, tr.spanAttrsOpt, trace.WithAttributes(own...))
	}
	parent := ts.parent
	if parent == nil {
		parent = context.Background()
		opts = append(opts, trace.WithNewRoot())
	} else {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(parent)}))
	}
	ctx, span := r.tel.tracer.Start(parent, name, opts...)
	clear(opts)
	tr.opts = opts[:0]
	if sc := span.SpanContext(); sc.IsValid() {
		ts.traceID = sc.TraceID().String()
	}
	tr.seq++
	a := &attempt{key: attemptKey{task: ts.t.ID, attempt: ts.attempts, seq: tr.seq}, ts: ts, slot: s,
		ctx: ctx, span: span, begun: time.Now()}
	tr.inflight++
	if err := r.mode.give(s, a); err != nil {
		r.log.Error("cannot start the task", "task", ts.t.ID, "error", err)
		tr.endAttempt(a, taskproto.StatusError, err.Error(), nil)
		return false
	}
	return true
}

// timeout is the time a task may run; 0 for none.
func (tr *taskRun) timeout(ts *taskState) time.Duration {
	if ts.t.Timeout > 0 {
		return ts.t.Timeout
	}
	return tr.r.cfg.taskTimeout
}

// startClock starts (or restarts) the timeout clock of a from now.
func (tr *taskRun) startClock(a *attempt) {
	a.clock = time.Now()
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if d := tr.timeout(a.ts); d > 0 {
		tr.armTimer(a, d)
	}
}

func (tr *taskRun) armTimer(a *attempt, d time.Duration) {
	clock := a.clock
	a.timer = tr.r.after(d, func() { tr.onTimer(a, clock) })
}

// onTimer is the timeout timer of a, armed for the clock started at clock.
func (tr *taskRun) onTimer(a *attempt, clock time.Time) {
	r := tr.r
	if a.over || !a.clock.Equal(clock) {
		r.tel.staleEvent(r.ctx, "timer")
		return
	}
	w, s := a.w, a.slot
	if w != nil && w.span != nil && !w.heard && r.cfg.startTimeout > 0 {
		// The worker has said nothing yet: its start-up is not charged
		// to the task, within start_timeout.
		if rest := r.cfg.startTimeout - time.Since(w.started); rest > 0 {
			tr.armTimer(a, rest)
			return
		}
		r.log.Warn("worker did not become ready within start_timeout; replacing it",
			"worker", s.index, "pid", w.pid, "start_timeout", r.cfg.startTimeout)
		w.startFailed, w.stopNow = true, true
		tr.requeue(a, "the worker did not become ready")
		return
	}
	tr.endAttempt(a, taskproto.StatusTimeout, "timed out after "+time.Since(a.clock).Round(time.Millisecond).String(), nil)
	if w != nil && s.w == w {
		w.stopNow = true
		if r.mode.persistent() {
			w.replace = ReasonRestart
		}
	}
}

// finishAttempt takes a out of its slot and ends its span; false when it
// had already ended.
func (tr *taskRun) finishAttempt(a *attempt, status taskproto.Status, msg string, charged bool) bool {
	if a.over {
		return false
	}
	a.over = true
	head := a.slot.head() == a
	a.slot.release(a)
	if a.timer != nil {
		a.timer.Stop()
	}
	stopSilence(a.w, a)
	if next := a.slot.head(); head && next != nil {
		tr.startClock(next) // its timeout runs from when it reaches the head
	}
	tr.inflight--
	if status != taskproto.StatusOK {
		a.span.SetStatus(codes.Error, msg)
		a.span.SetAttributes(attribute.String("error.type", string(status)))
	}
	a.span.End()
	if charged {
		r := tr.r
		r.tel.duration.Record(r.ctx, time.Since(a.begun).Seconds(), r.tel.attrsBy[status])
		r.tel.taskConsumed()
	}
	return true
}

// endAttempt concludes an attempt: its span and metrics, then a retry
// (queued first) or the task's result line.
func (tr *taskRun) endAttempt(a *attempt, status taskproto.Status, msg string, result json.RawMessage) {
	if !tr.finishAttempt(a, status, msg, true) {
		return
	}
	r, ts := tr.r, a.ts
	ts.lastStatus, ts.lastErr = status, msg
	retry := status == taskproto.StatusError || status == taskproto.StatusTimeout || status == taskproto.StatusLost
	max := r.cfg.maxAttempts
	if retry && (max == 0 || ts.attempts < max) && !r.shuttingDown && !tr.finishing {
		r.tel.retries.Add(r.ctx, 1, r.tel.baseAttrs)
		r.log.Debug("retrying task", "task", ts.t.ID, "status", status, "attempt", ts.attempts)
		tr.queue = append([]*taskState{ts}, tr.queue...)
		return
	}
	tr.writeResult(ts, status, msg, result)
}

// requeueHeld queues again, uncharged and in their order, the attempts
// still held by a worker that is stopped at once (a timeout, a broken
// protocol, a failed start): the attempt it was working on has ended by
// then, and it never reached these.
func (tr *taskRun) requeueHeld(s *slot) {
	for i := len(s.inflight) - 1; i >= 0; i-- {
		tr.requeue(s.inflight[i], "the worker was replaced before it reached the task")
	}
}

// requeue ends an attempt that never ran (its worker did not start, or
// died or was stopped before it reached the attempt) without charging it:
// the task is queued first again. msg is the status of the attempt's span.
func (tr *taskRun) requeue(a *attempt, msg string) {
	if !tr.finishAttempt(a, taskproto.StatusLost, msg, false) {
		return
	}
	ts := a.ts
	ts.attempts--
	switch {
	case (tr.r.shuttingDown || tr.finishing) && ts.attempts > 0:
		tr.writeResult(ts, ts.lastStatus, ts.lastErr, nil) // as stop does for a retry
		return
	case tr.r.shuttingDown || tr.finishing:
		tr.cancel(ts)
		return
	}
	tr.queue = append([]*taskState{ts}, tr.queue...)
}

func (tr *taskRun) writeResult(ts *taskState, status taskproto.Status, msg string, result json.RawMessage) {
	if status != taskproto.StatusOK {
		tr.failed = true
	}
	var d time.Duration
	if !ts.first.IsZero() {
		d = time.Since(ts.first)
	}
	res := taskproto.Result{
		ID: ts.t.ID, Status: status, Attempts: ts.attempts, Duration: d,
		TraceID: ts.traceID, Worker: ts.worker, Error: msg, Result: result,
	}
	tr.out.add(&res, ts.handle)
}

// cancel ends a task that never started because the launcher stops: it
// goes back to a source that takes it, else its result is cancelled.
func (tr *taskRun) cancel(ts *taskState) {
	if ret, ok := tr.src.(taskReturner); ok && ts.attempts == ts.base {
		if err := ret.Return(ts.handle); err == nil {
			return
		}
	}
	tr.writeResult(ts, taskproto.StatusCancelled, "cancelled: the launcher is stopping", nil)
}

// maybeFinish is step 3 of settle: once no task is left to run, the
// workers are stopped.
func (tr *taskRun) maybeFinish() {
	r := tr.r
	if (tr.finishing && (tr.inflight == 0 || tr.graceOver)) || (tr.eof && len(tr.queue) == 0 && tr.inflight == 0) {
		if tr.graceOver && tr.inflight > 0 {
			r.log.Warn("tasks still in flight after stop_grace; stopping the workers")
		}
		r.beginStop(true)
	}
}

// finishInFlight stops reading, cancels what has not started and lets what is in
// flight finish within stop_grace before the workers are stopped.
func (tr *taskRun) finishInFlight() {
	if tr.finishing {
		return
	}
	tr.finishing = true
	tr.stop()
	// With prefetch, only the head of a worker's queue has started (its
	// timeout runs, docs/protocol.md 2.3): the tasks behind it end
	// cancelled like the queued ones; a reply for them later is stale.
	for _, s := range tr.r.slots {
		for i := len(s.inflight) - 1; i >= 1; i-- {
			tr.requeue(s.inflight[i], "cancelled: the launcher is stopping")
		}
	}
	if tr.inflight > 0 {
		r := tr.r
		r.log.Info("waiting for tasks in flight", "tasks", tr.inflight, "stop_grace", r.cfg.stopGrace)
		r.after(r.cfg.stopGrace, func() { tr.graceOver = true })
	}
}

// stop stops reading and ends every queued task: cancelled when it never
// started, else with the status of its last attempt.
func (tr *taskRun) stop() {
	if tr.reading {
		tr.reading = false
		close(tr.stopRead)
		if tr.src.Stop() {
			tr.srcAway = true
			// A line the stop cut while the read waited for its end
			// is cancelled too: it was consumed in part.
			if c, ok := tr.src.(cutReporter); ok {
				if id, ok := c.cutLine(); ok {
					tr.cancel(&taskState{t: taskproto.Task{ID: id}, worker: -1})
				}
			}
		}
	}
	for _, ts := range tr.queue {
		tr.dequeue(ts)
		if ts.attempts == ts.base {
			tr.cancel(ts)
		} else {
			tr.writeResult(ts, ts.lastStatus, ts.lastErr, nil)
		}
	}
	tr.queue = nil
}

// abandonInput gives up waiting for input the source consumed (a second
// stop signal).
func (tr *taskRun) abandonInput() { tr.srcAway = true }

func (tr *taskRun) status() int {
	if tr.failed || tr.out.lost() {
		return 1
	}
	return 0
}
