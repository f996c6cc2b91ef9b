package launcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

// Environment variables of task mode workers.
const (
	EnvResultFD    = "QRUN_RESULT_FD"
	EnvTaskID      = "QRUN_TASK_ID"
	EnvTaskAttempt = "QRUN_TASK_ATTEMPT"
)

// taskState is one task read from the input, across its attempts.
type taskState struct {
	t          taskproto.Task
	parent     context.Context // the task carrier's context; nil for a new root
	attempts   int
	first      time.Time
	worker     int
	traceID    string
	lastStatus taskproto.Status
	lastErr    string
}

// attempt is one try of a task on one worker.
type attempt struct {
	ts    *taskState
	slot  *slot
	ctx   context.Context
	span  trace.Span
	start time.Time
	timer *time.Timer
	over  bool
}

type readEvent struct {
	task taskproto.Task
	err  error
}

type replyEvent struct {
	pid  int
	line []byte
	err  error // the reply pipe ended or a reply was too long
}

// taskRun is the task mode part of a run; like run, it is owned by the
// goroutine in Run.
type taskRun struct {
	r        *run
	reads    chan readEvent
	replies  chan replyEvent
	tokens   chan struct{} // one per task read and not yet dispatched: queue_limit
	stopRead chan struct{}
	reading  bool
	eof      bool
	failed   bool // a task ended other than ok, or the input could not be read
	draining bool
	queue    []*taskState
	inflight int
	buf      []byte
	name     string
	tracer   trace.Tracer
	out      *bufio.Writer // the result stream; see flush
	outErr   bool          // a result write failed (reported once)

	duration  metric.Float64Histogram
	consumed  metric.Int64Counter
	queued    metric.Int64UpDownCounter
	retries   metric.Int64Counter
	baseAttrs metric.MeasurementOption
	// attrsBy holds the attributes of an attempt's duration by status,
	// built once: error.type on failure.
	attrsBy map[taskproto.Status]metric.MeasurementOption
}

func newTaskRun(r *run) *taskRun {
	l := r.l
	tr := &taskRun{
		r:        r,
		reads:    make(chan readEvent),
		replies:  make(chan replyEvent),
		tokens:   make(chan struct{}, l.cfg.queueLimit),
		stopRead: make(chan struct{}),
		reading:  true,
		name:     l.cfg.cluster,
		tracer:   l.cfg.tracer.Tracer("github.com/otel-qrun/otel-qrun/launcher"),
		out:      bufio.NewWriterSize(l.cfg.taskResults, 64*1024),
	}
	meter := l.cfg.meter.Meter("github.com/otel-qrun/otel-qrun/launcher")
	tr.duration, _ = meter.Float64Histogram("messaging.process.duration",
		metric.WithDescription("Duration of processing operation."), metric.WithUnit("s"))
	tr.consumed, _ = meter.Int64Counter("messaging.client.consumed.messages",
		metric.WithDescription("Number of messages that were delivered to the application."), metric.WithUnit("{message}"))
	tr.queued, _ = meter.Int64UpDownCounter("qrun.tasks.queued",
		metric.WithDescription("Tasks read and not yet started."), metric.WithUnit("{task}"))
	tr.retries, _ = meter.Int64Counter("qrun.task.retries",
		metric.WithDescription("Task attempts retried after error, timeout or loss."), metric.WithUnit("{attempt}"))
	base := []attribute.KeyValue{
		attribute.String("messaging.system", "otel_qrun"),
		attribute.String("messaging.destination.name", tr.name),
		attribute.String("messaging.operation.name", "process"),
	}
	tr.baseAttrs = metric.WithAttributeSet(attribute.NewSet(base...))
	tr.attrsBy = map[taskproto.Status]metric.MeasurementOption{taskproto.StatusOK: tr.baseAttrs}
	for _, st := range []taskproto.Status{taskproto.StatusError, taskproto.StatusTimeout, taskproto.StatusLost} {
		kv := append(append([]attribute.KeyValue(nil), base...), attribute.String("error.type", string(st)))
		tr.attrsBy[st] = metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	go tr.read(taskproto.NewReader(l.cfg.taskIn, l.cfg.maxLine))
	return tr
}

// read runs in its own goroutine: it reads a task when a token says there
// is room in the queue, and hands it to the loop. A read blocked on an
// input that never ends outlives Run; the process exits anyway.
func (tr *taskRun) read(rd *taskproto.Reader) {
	for {
		select {
		case tr.tokens <- struct{}{}:
		case <-tr.stopRead:
			return
		}
		t, err := rd.Next()
		select {
		case tr.reads <- readEvent{task: t, err: err}:
		case <-tr.stopRead:
			return
		}
		var le *taskproto.LineError
		if err != nil && !errors.As(err, &le) {
			return
		}
	}
}

func (tr *taskRun) release() {
	select {
	case <-tr.tokens:
	default:
	}
}

func (tr *taskRun) onRead(ev readEvent) {
	var le *taskproto.LineError
	switch {
	case ev.err == nil:
		ts := &taskState{t: ev.task, worker: -1}
		ts.parent = tr.carrierContext(ev.task.Carrier)
		if tr.draining || tr.r.stopping {
			tr.release()
			tr.writeResult(ts, taskproto.StatusCancelled, "cancelled: the launcher is stopping", nil)
			return
		}
		tr.queued.Add(tr.r.ctx, 1)
		tr.queue = append(tr.queue, ts)
		tr.dispatch()
	case errors.As(ev.err, &le):
		tr.release()
		tr.writeResult(&taskState{t: taskproto.Task{ID: le.ID}, worker: -1}, taskproto.StatusInvalid, le.Error(), nil)
	default:
		tr.eof = true
		if !errors.Is(ev.err, io.EOF) {
			tr.failed = true
			tr.r.l.cfg.logger.Error("reading tasks failed; no more tasks are read", "error", ev.err)
		}
		tr.maybeFinish()
	}
}

// carrierContext is the context of a task's carrier when it holds a valid
// span context, else nil (the task span is then a new root).
func (tr *taskRun) carrierContext(c propagate.MapCarrier) context.Context {
	p := tr.r.l.cfg.propagator
	if c == nil || p == nil {
		return nil
	}
	ctx, err := propagate.ExtractMap(context.Background(), p, c)
	if err != nil {
		tr.r.l.cfg.logger.Debug("ignoring an invalid task carrier", "error", err)
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	return ctx
}

// dispatch starts queued tasks while a worker can take one.
func (tr *taskRun) dispatch() {
	r := tr.r
	for len(tr.queue) > 0 && !r.stopping && !tr.draining {
		s := tr.freeSlot()
		if s == nil {
			return
		}
		ts := tr.queue[0]
		tr.queue = tr.queue[1:]
		if ts.attempts == 0 {
			tr.release()
			tr.queued.Add(r.ctx, -1)
		}
		tr.startAttempt(ts, s)
	}
}

// freeSlot returns a slot that can take a task: an idle persistent worker,
// or, per task, a slot with no process.
func (tr *taskRun) freeSlot() *slot {
	for _, s := range tr.r.slots {
		if s.retiring || s.done {
			continue
		}
		if tr.r.l.cfg.perTask {
			if s.w == nil && !s.pending {
				return s
			}
		} else if s.w != nil && s.w.in != nil && !s.w.stopping && s.w.cur == nil && s.replace == "" {
			return s
		}
	}
	return nil
}

func (tr *taskRun) startAttempt(ts *taskState, s *slot) {
	r, l := tr.r, tr.r.l
	ts.attempts++
	if ts.attempts == 1 {
		ts.first = time.Now()
	}
	ts.worker = s.index
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "otel_qrun"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", tr.name),
			attribute.String("messaging.message.id", ts.t.ID),
			attribute.String("messaging.client.id", tr.name+"/"+strconv.Itoa(s.index)),
			attribute.Int("qrun.task.attempt", ts.attempts),
		),
	}
	parent := ts.parent
	if parent == nil {
		parent = context.Background()
		opts = append(opts, trace.WithNewRoot())
	} else {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(parent)}))
	}
	ctx, span := tr.tracer.Start(parent, "process "+tr.name, opts...)
	if sc := span.SpanContext(); sc.IsValid() {
		ts.traceID = sc.TraceID().String()
	}
	att := &attempt{ts: ts, slot: s, ctx: ctx, span: span, start: time.Now()}
	tr.inflight++
	timeout := ts.t.Timeout
	if timeout <= 0 {
		timeout = l.cfg.taskTimeout
	}
	if timeout > 0 {
		att.timer = time.AfterFunc(timeout, func() { r.deliver(timerEvent{att: att}) })
	}
	if l.cfg.perTask {
		if err := tr.startProcess(att); err != nil {
			l.cfg.logger.Error("cannot start the task's process", "task", ts.t.ID, "error", err)
			tr.endAttempt(att, taskproto.StatusError, err.Error(), nil)
		}
		return
	}
	s.w.cur = att
	carrier := ts.t.Carrier
	if l.cfg.propagator != nil {
		carrier = propagate.InjectMap(ctx, l.cfg.propagator)
	}
	line := taskproto.AppendWorkerTask(nil, taskproto.WorkerTask{
		ID: ts.t.ID, Payload: ts.t.Payload, Carrier: carrier, Attempt: ts.attempts,
	})
	// With one task in flight the worker has read everything before: a
	// line up to PIPE_BUF fits the empty pipe and is written at once. A
	// longer one could fill it, and the loop never waits on a worker. A
	// failed write shows up as the worker's exit.
	if len(line) <= pipeBuf {
		_, _ = s.w.in.Write(line)
		return
	}
	go func(in *os.File) { _, _ = in.Write(line) }(s.w.in)
}

// pipeBuf is POSIX's PIPE_BUF, the size of a write a pipe takes whole.
const pipeBuf = 4096

// startProcess starts a fresh process for one attempt (per_task).
func (tr *taskRun) startProcess(att *attempt) error {
	ts, l := att.ts, tr.r.l
	in, out, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("stdin pipe: %w", err)
	}
	ctx := att.ctx
	var env []string
	if l.cfg.propagator == nil && ts.t.Carrier != nil {
		// No SDK: the task's own carrier passes through.
		c := propagate.NewEnvCarrier(nil)
		for k, v := range ts.t.Carrier {
			c.Set(k, v)
		}
		env = c.Environ()
	}
	env = append(env, EnvTaskID+"="+ts.t.ID, EnvTaskAttempt+"="+strconv.Itoa(ts.attempts))
	err = tr.r.startWith(att.slot, ReasonInitial, startSpec{ctx: ctx, env: env, stdin: in})
	in.Close()
	if err != nil {
		out.Close()
		return err
	}
	att.slot.w.cur = att
	payload := taskproto.PayloadBytes(ts.t.Payload)
	go func() {
		_, _ = out.Write(payload)
		out.Close()
	}()
	return nil
}

// startPersistent starts a persistent task worker with a task pipe on its
// stdin and a reply pipe on fd 3.
func (tr *taskRun) startPersistent(s *slot, reason Reason) error {
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
	err = tr.r.startWith(s, reason, startSpec{env: []string{EnvResultFD + "=3"}, stdin: stdinR, fd3: replyW})
	stdinR.Close()
	replyW.Close()
	if err != nil {
		stdinW.Close()
		replyR.Close()
		return err
	}
	s.w.in = stdinW
	go tr.readReplies(s.w.pid, replyR)
	return nil
}

// readReplies hands a worker's reply lines to the loop until the pipe ends.
func (tr *taskRun) readReplies(pid int, f *os.File) {
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	max := tr.r.l.cfg.maxLine
	for {
		line, err := readLine(br, max)
		ev := replyEvent{pid: pid, line: line, err: err}
		select {
		case tr.replies <- ev:
		case <-tr.r.quit:
			return
		}
		if err != nil && !errors.Is(err, errLongReply) {
			return
		}
	}
}

var errLongReply = errors.New("reply longer than max_line")

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

func (tr *taskRun) onReply(ev replyEvent) {
	s := tr.r.byPid[ev.pid]
	if s == nil || s.w == nil {
		return
	}
	log := tr.r.l.cfg.logger
	att := s.w.cur
	if ev.err != nil && !errors.Is(ev.err, errLongReply) {
		return // fd 3 closed: the worker's exit will tell
	}
	if att == nil {
		log.Warn("worker replied with no task in flight; replacing it", "worker", s.index)
		tr.replaceWorker(s, ReasonRestart)
		return
	}
	var rep taskproto.Reply
	err := ev.err
	if err == nil {
		rep, err = taskproto.ParseReply(ev.line)
	}
	if err == nil && rep.ID != att.ts.t.ID {
		err = fmt.Errorf("reply for task %q while task %q is in flight", rep.ID, att.ts.t.ID)
	}
	if err != nil {
		log.Warn("worker broke the reply protocol; replacing it", "worker", s.index, "error", err)
		tr.endAttempt(att, taskproto.StatusLost, "worker replied incorrectly: "+err.Error(), nil)
		tr.replaceWorker(s, ReasonRestart)
		return
	}
	s.w.done++
	n := tr.r.l.cfg.recycle
	recycle := n > 0 && s.w.done >= n
	if recycle {
		s.replace = ReasonRecycle // no new task for this worker
	}
	if rep.OK {
		tr.endAttempt(att, taskproto.StatusOK, "", rep.Result)
	} else {
		tr.endAttempt(att, taskproto.StatusError, rep.Error, rep.Result)
	}
	if recycle {
		log.Debug("recycling worker", "worker", s.index, "tasks", s.w.done)
		s.replace = ""
		tr.replaceWorker(s, ReasonRecycle)
	}
	tr.dispatch()
}

// replaceWorker stops a persistent worker gracefully; it is started again
// for reason when it exits.
func (tr *taskRun) replaceWorker(s *slot, reason Reason) {
	if s.w == nil || s.w.stopping {
		return
	}
	s.replace = reason
	if s.w.in != nil {
		s.w.in.Close()
		s.w.in = nil
	}
	tr.r.stopWorker(s)
}

func (tr *taskRun) onTimeout(att *attempt) {
	if att.over {
		return
	}
	timeout := time.Since(att.start).Round(time.Millisecond)
	tr.endAttempt(att, taskproto.StatusTimeout, "timed out after "+timeout.String(), nil)
	s := att.slot
	if s.w != nil && s.w.cur == nil {
		if tr.r.l.cfg.perTask {
			tr.r.stopWorker(s)
		} else {
			tr.replaceWorker(s, ReasonRestart)
		}
	}
}

// endAttempt concludes an attempt: its span and metrics, then a retry or
// the task's result line.
func (tr *taskRun) endAttempt(att *attempt, status taskproto.Status, msg string, result json.RawMessage) {
	if att.over {
		return
	}
	att.over = true
	r := tr.r
	if att.timer != nil {
		att.timer.Stop()
	}
	tr.inflight--
	if w := att.slot.w; w != nil && w.cur == att {
		w.cur = nil
	}
	if status != taskproto.StatusOK {
		att.span.SetStatus(codes.Error, msg)
		att.span.SetAttributes(attribute.String("error.type", string(status)))
	}
	att.span.End()
	tr.duration.Record(r.ctx, time.Since(att.start).Seconds(), tr.attrsBy[status])
	tr.consumed.Add(r.ctx, 1, tr.baseAttrs)

	ts := att.ts
	ts.lastStatus, ts.lastErr = status, msg
	retry := status == taskproto.StatusError || status == taskproto.StatusTimeout || status == taskproto.StatusLost
	max := r.l.cfg.maxAttempts
	if retry && (max == 0 || ts.attempts < max) && !r.stopping && !tr.draining {
		tr.retries.Add(r.ctx, 1, tr.baseAttrs)
		r.l.cfg.logger.Debug("retrying task", "task", ts.t.ID, "status", status, "attempt", ts.attempts)
		tr.queue = append([]*taskState{ts}, tr.queue...)
	} else {
		tr.writeResult(ts, status, msg, result)
	}
	tr.dispatch()
	tr.maybeFinish()
}

func (tr *taskRun) writeResult(ts *taskState, status taskproto.Status, msg string, result json.RawMessage) {
	if status != taskproto.StatusOK {
		tr.failed = true
	}
	var d time.Duration
	if !ts.first.IsZero() {
		d = time.Since(ts.first)
	}
	tr.buf = taskproto.AppendResult(tr.buf[:0], taskproto.Result{
		ID: ts.t.ID, Status: status, Attempts: ts.attempts, Duration: d,
		TraceID: ts.traceID, Worker: ts.worker, Error: msg, Result: result,
	})
	_, _ = tr.out.Write(tr.buf) // errors stick in the writer: see flush
}

// pending reports whether result lines wait to be written.
func (tr *taskRun) pending() bool { return tr.out.Buffered() > 0 }

// flush writes the buffered result lines. The loop calls it whenever it has
// nothing else ready, so a result never waits while the launcher is idle,
// and results that end in one burst go out in one write.
func (tr *taskRun) flush() {
	if err := tr.out.Flush(); err != nil && !tr.r.outputClosed(err) && !tr.outErr {
		tr.outErr = true
		tr.failed = true
		tr.r.l.cfg.logger.Error("writing results failed", "error", err)
	}
}

// workerExited handles the exit of a task mode worker; it reports whether
// the exit is fully handled (no restart policy applies).
func (tr *taskRun) workerExited(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) bool {
	r := tr.r
	if w.in != nil {
		w.in.Close()
	}
	att := w.cur
	if tr.r.l.cfg.perTask {
		if att != nil {
			if ws.Exited() && ws.ExitStatus() == 0 {
				tr.endAttempt(att, taskproto.StatusOK, "", nil)
			} else {
				tr.endAttempt(att, taskproto.StatusError, describeStatus(ws), nil)
			}
		}
		tr.dispatch()
		tr.maybeFinish()
		return true
	}
	if att != nil {
		tr.endAttempt(att, taskproto.StatusLost, "worker died during the task: "+describeStatus(ws), nil)
	}
	switch {
	case r.stopping:
		return false
	case s.retiring:
		return false
	case s.replace != "":
		reason := s.replace
		s.replace = ""
		r.startOrFail(s, reason)
	case att != nil:
		// The task took the blame (retried or lost); replace the worker now.
		r.startOrFail(s, ReasonRestart)
	default:
		// Died idle: a crash loop is backed off and given up on as with
		// restart "always".
		r.applyPolicy(s, RestartAlways, exitStatus(ws), uptime)
	}
	tr.dispatch()
	return true
}

// maybeFinish stops the workers once no task is left to run.
func (tr *taskRun) maybeFinish() {
	r := tr.r
	if r.stopping || tr.inflight > 0 {
		return
	}
	if tr.draining || (tr.eof && len(tr.queue) == 0) {
		r.beginStop(true)
	}
}

// drain stops reading, cancels what has not started and lets what is in
// flight finish within stop_grace before the workers are stopped.
func (tr *taskRun) drain() {
	if tr.draining {
		return
	}
	tr.draining = true
	tr.stopReading()
	tr.cancelQueue()
	if tr.inflight > 0 {
		tr.r.l.cfg.logger.Info("waiting for tasks in flight", "tasks", tr.inflight, "stop_grace", tr.r.l.cfg.stopGrace)
		time.AfterFunc(tr.r.l.cfg.stopGrace, func() { tr.r.deliver(timerEvent{drain: true}) })
	}
	tr.maybeFinish()
}

func (tr *taskRun) stopReading() {
	if tr.reading {
		tr.reading = false
		close(tr.stopRead)
	}
}

// cancelQueue writes the result of every queued task: cancelled when it
// never started, else the status of its last attempt.
func (tr *taskRun) cancelQueue() {
	for _, ts := range tr.queue {
		if ts.attempts == 0 {
			tr.release()
			tr.queued.Add(tr.r.ctx, -1)
			tr.writeResult(ts, taskproto.StatusCancelled, "cancelled: the launcher is stopping", nil)
		} else {
			tr.writeResult(ts, ts.lastStatus, ts.lastErr, nil)
		}
	}
	tr.queue = nil
}

// stopping is called when the launcher begins to stop for any reason.
func (tr *taskRun) stopping() {
	tr.stopReading()
	tr.cancelQueue()
	for _, s := range tr.r.slots {
		if s.w != nil && s.w.in != nil && s.w.cur == nil {
			s.w.in.Close() // EOF: a well-behaved worker exits by itself
			s.w.in = nil
		}
	}
}

func (tr *taskRun) status() int {
	if tr.failed {
		return 1
	}
	return 0
}
