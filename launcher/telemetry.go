package launcher

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// instrumentationScope names the launcher's tracer and meter.
const instrumentationScope = "github.com/otel-qrun/otel-qrun/launcher"

// telemetry holds every instrument of the launcher and the attribute sets
// they are recorded with (README, Telemetry), built once in New. Attribute
// values are bounded: never a task id or payload.
type telemetry struct {
	tracer trace.Tracer

	active metric.Int64UpDownCounter // qrun.workers.active
	starts metric.Int64Counter       // qrun.worker.starts, by reason
	exits  metric.Int64Counter       // qrun.worker.exits, by outcome

	duration metric.Float64Histogram // messaging.process.duration, seconds
	retries  metric.Int64Counter     // qrun.task.retries
	stale    metric.Int64Counter     // qrun.task.stale_events, by event

	// The per-task counts are kept here and observed at each collection
	// (asynchronous instruments), not recorded through the SDK for every
	// task: messaging.client.consumed.messages (a counter) and
	// qrun.tasks.queued (an up-down counter). Each is reported from its
	// first change on, as its synchronous instrument would be.
	consumed, queued         atomic.Int64
	consumedSeen, queuedSeen atomic.Bool

	baseAttrs metric.MeasurementOption
	// attrsBy holds the attributes of an attempt's duration by status:
	// error.type on failure.
	attrsBy map[taskproto.Status]metric.MeasurementOption
}

func newTelemetry(cfg *config) *telemetry {
	t := &telemetry{tracer: cfg.tracer.Tracer(instrumentationScope)}
	meter := cfg.meter.Meter(instrumentationScope)
	// Instrument creation only fails for invalid names; these are constants.
	t.active, _ = meter.Int64UpDownCounter("qrun.workers.active",
		metric.WithDescription("Worker processes running."), metric.WithUnit("{process}"))
	t.starts, _ = meter.Int64Counter("qrun.worker.starts",
		metric.WithDescription("Worker processes started, by reason."), metric.WithUnit("{process}"))
	t.exits, _ = meter.Int64Counter("qrun.worker.exits",
		metric.WithDescription("Worker processes that exited, by outcome."), metric.WithUnit("{process}"))
	t.duration, _ = meter.Float64Histogram("messaging.process.duration",
		metric.WithDescription("Duration of processing operation."), metric.WithUnit("s"))
	_, _ = meter.Int64ObservableCounter("messaging.client.consumed.messages",
		metric.WithDescription("Number of messages that were delivered to the application."), metric.WithUnit("{message}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if t.consumedSeen.Load() {
				o.Observe(t.consumed.Load(), t.baseAttrs)
			}
			return nil
		}))
	_, _ = meter.Int64ObservableUpDownCounter("qrun.tasks.queued",
		metric.WithDescription("Tasks read and not yet started."), metric.WithUnit("{task}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if t.queuedSeen.Load() {
				o.Observe(t.queued.Load())
			}
			return nil
		}))
	t.retries, _ = meter.Int64Counter("qrun.task.retries",
		metric.WithDescription("Task attempts retried after error, timeout or loss."), metric.WithUnit("{attempt}"))
	t.stale, _ = meter.Int64Counter("qrun.task.stale_events",
		metric.WithDescription("Replies and timers of attempts that had already ended, dropped."), metric.WithUnit("{event}"))
	base := []attribute.KeyValue{
		attribute.String("messaging.system", "otel_qrun"),
		attribute.String("messaging.destination.name", cfg.destinationName()),
		attribute.String("messaging.operation.name", "process"),
	}
	t.baseAttrs = metric.WithAttributeSet(attribute.NewSet(base...))
	t.attrsBy = map[taskproto.Status]metric.MeasurementOption{taskproto.StatusOK: t.baseAttrs}
	for _, st := range []taskproto.Status{taskproto.StatusError, taskproto.StatusTimeout, taskproto.StatusLost} {
		kv := append(append([]attribute.KeyValue(nil), base...), attribute.String("error.type", string(st)))
		t.attrsBy[st] = metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	return t
}

// workerStarted records a worker start.
func (t *telemetry) workerStarted(ctx context.Context, reason Reason) {
	t.active.Add(ctx, 1)
	t.starts.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", string(reason))))
}

// workerExited ends the worker's span and records its exit.
func (t *telemetry) workerExited(ctx context.Context, span trace.Span, ws syscall.WaitStatus, failed bool) {
	span.SetAttributes(attribute.Int("process.exit.code", exitStatus(ws)))
	if ws.Signaled() {
		span.SetAttributes(attribute.String("process.exit.signal", signalName(ws.Signal())))
	}
	if failed {
		span.SetStatus(codes.Error, describeStatus(ws))
	}
	span.End()
	t.active.Add(ctx, -1)
	t.exits.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome(ws))))
}

// workerSpan starts the INTERNAL span whose context a worker receives.
func (t *telemetry) workerSpan(ctx context.Context, path string, index int, reason Reason) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "run "+filepath.Base(path),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("process.executable.name", filepath.Base(path)),
			attribute.Int(AttrWorkerIndex, index),
			attribute.String("qrun.worker.start.reason", string(reason)),
		))
}

// staleEvent counts an event about an attempt or a process that is no
// longer current; kind is "reply" or "timer".
func (t *telemetry) staleEvent(ctx context.Context, kind string) {
	t.stale.Add(ctx, 1, metric.WithAttributes(attribute.String("event", kind)))
}

func outcome(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "signal"
	case ws.ExitStatus() == 0:
		return "ok"
	}
	return "error"
}

// taskQueued counts n tasks into (n > 0) or out of (n < 0) the queue:
// qrun.tasks.queued.
func (t *telemetry) taskQueued(n int64) {
	t.queued.Add(n)
	t.queuedSeen.Store(true)
}

// taskConsumed counts a task attempt delivered to a worker and ended:
// messaging.client.consumed.messages.
func (t *telemetry) taskConsumed() {
	t.consumed.Add(1)
	t.consumedSeen.Store(true)
}

// RecordStartFailure records, with tp, the span of a run whose command
// cannot be executed at all: err is what [New] or [LookPath] returned for
// argv0 (wrapping [ErrNotFound] or [ErrNotExecutable]). The span is the
// one the first worker would have had (INTERNAL, "run NAME",
// process.executable.name, qrun.worker.index 0, start reason initial),
// ended at once as a start that failed ends: an exception event (its
// exception.type the sentinel err wraps, fully qualified, its
// exception.message err's text) and the status Error "start failed". So a mistyped
// command in a cron job shows in the trace of its caller, as otel-cli exec
// records one, instead of nothing. ctx carries the inherited trace context.
func RecordStartFailure(ctx context.Context, tp trace.TracerProvider, argv0 string, err error) {
	if tp == nil {
		return
	}
	t := &telemetry{tracer: tp.Tracer(instrumentationScope)}
	_, span := t.workerSpan(ctx, argv0, 0, ReasonInitial)
	typ := instrumentationScope + ".ErrNotExecutable"
	if errors.Is(err, ErrNotFound) {
		typ = instrumentationScope + ".ErrNotFound"
	}
	// Not RecordError: its exception.type would be err's Go type
	// (*fmt.wrapError), which says nothing.
	span.AddEvent("exception", trace.WithAttributes(
		attribute.String("exception.type", typ), attribute.String("exception.message", err.Error())))
	span.SetStatus(codes.Error, "start failed")
	span.End()
}
