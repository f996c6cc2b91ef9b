package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

// signal is what an error is about.
type signal int

const (
	sigTraces signal = iota
	sigMetrics
	sigOther
	numSignals
)

func (s signal) String() string {
	switch s {
	case sigTraces:
		return "traces"
	case sigMetrics:
		return "metrics"
	default:
		return "other"
	}
}

// reporter reports the first error of each signal on the error writer and
// every error at debug level on the logger. It is also the otel global
// error handler, for the errors that do not come from an export.
//
// A signal the user configured nothing for goes to the default collector
// (unasked): a refused connection there is not an error they asked for,
// and it is reported by one hint line for all such signals instead.
type reporter struct {
	w   io.Writer
	log *slog.Logger
	// unasked tells the signals that go to the SDK's default collector
	// because no OTEL_* variable chooses their exporter, endpoint or
	// protocol (defaultCollector).
	unasked [numSignals]bool
	noHint  bool // WithoutCollectorHint

	mu     sync.Mutex
	first  [numSignals]error
	hinted bool
}

var _ otel.ErrorHandler = (*reporter)(nil)

func newReporter(w io.Writer, log *slog.Logger) *reporter {
	return &reporter{w: w, log: log}
}

func (r *reporter) report(sig signal, err error) {
	r.log.Debug("telemetry error", "signal", sig.String(), "error", err)
	hint := r.unasked[sig] && errors.Is(err, syscall.ECONNREFUSED)
	r.mu.Lock()
	first := r.first[sig] == nil
	if first {
		r.first[sig] = err
	}
	if hint {
		first, r.hinted = !r.hinted, true
	}
	r.mu.Unlock()
	if !first {
		return
	}
	if hint {
		if !r.noHint {
			fmt.Fprintln(r.w, r.hint())
		}
		return
	}
	msg := oneLine(err)
	switch sig {
	case sigTraces:
		fmt.Fprintf(r.w, "otel-qrun: trace export failed: %s; further export errors are not reported\n", msg)
	case sigMetrics:
		fmt.Fprintf(r.w, "otel-qrun: metric export failed: %s; further export errors are not reported\n", msg)
	default:
		fmt.Fprintf(r.w, "otel-qrun: telemetry error: %s; further telemetry errors are not reported\n", msg)
	}
}

// firstError returns the first error reported for sig, if any.
func (r *reporter) firstError(sig signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[sig]
}

// Handle implements otel.ErrorHandler. Export errors were already reported
// by the exporter wrappers; the processors and readers hand them to otel
// again, and they are ignored here so that each is reported once.
func (r *reporter) Handle(err error) {
	if err == nil {
		return
	}
	var ee *exportError
	if errors.As(err, &ee) {
		return
	}
	if errors.Is(err, context.Canceled) {
		// A collection or export abandoned on purpose, e.g. by a
		// periodic reader that is shutting down; the data is exported
		// again by the final flush.
		r.log.Debug("telemetry operation canceled", "error", err)
		return
	}
	r.report(sigOther, err)
}

// defaultCollectorAddr is where the OTLP exporters send by default (the
// specification's default, http/protobuf to localhost:4318).
const defaultCollectorAddr = "localhost:4318"

// unaskedSignals tells, for traces and metrics, whether env leaves the
// signal to the default collector: no variable of the signal's own chooses
// its exporter, protocol or endpoint, and none of the shared ones does.
// (OTEL_TRACES_EXPORTER=console alone leaves metrics to it.)
func unaskedSignals(env environ) [numSignals]bool {
	shared := env.get(envProtocol) == "" && env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == ""
	return [numSignals]bool{
		sigTraces: shared && env.get(envTracesExporter) == "" && env.get(envTracesProtocol) == "" &&
			env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "",
		sigMetrics: shared && env.get(envMetricsExporter) == "" && env.get(envMetricsProtocol) == "" &&
			env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") == "",
	}
}

// hint is the line that stands for a refused default collector: which
// signals it loses, and the variables that show them here instead.
func (r *reporter) hint() string {
	what, fix := "nothing exported", "set OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none to see spans, or OTEL_SDK_DISABLED=true to turn telemetry off"
	switch {
	case !r.unasked[sigMetrics]:
		what, fix = "spans not exported", "set OTEL_TRACES_EXPORTER=console to see them, or none"
	case !r.unasked[sigTraces]:
		what, fix = "metrics not exported", "set OTEL_METRICS_EXPORTER=console to see them, or none"
	}
	return "otel-qrun: hint: no OpenTelemetry collector at " + defaultCollectorAddr + " (none configured), " + what + "; " + fix
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// exportError marks an error that the exporter wrappers have reported.
type exportError struct {
	sig signal
	err error
}

func (e *exportError) Error() string { return e.sig.String() + " export: " + e.err.Error() }
func (e *exportError) Unwrap() error { return e.err }

// errShutdownTimeout is the cause given to exports aborted by Shutdown.
var errShutdownTimeout = errors.New("telemetry shutdown timeout reached")

// lifetime is canceled when exports must stop: the shutdown budget is spent
// or the caller of Shutdown gave up. Every export runs under it, so that no
// exporter outlives Shutdown, whatever its own timeouts and retries.
type lifetime struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &lifetime{ctx: ctx, cancel: cancel}
}

// ended returns why the lifetime ended, or nil while it lasts. Exports
// that start after the end are not attempted.
func (l *lifetime) ended() error {
	if l.ctx.Err() == nil {
		return nil
	}
	return context.Cause(l.ctx)
}

// bind returns ctx, also canceled when the lifetime ends.
func (l *lifetime) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.ctx, func() { cancel(context.Cause(l.ctx)) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// check reports err, the result of an export called with ctx, and marks it
// as reported. An export that its caller canceled on purpose while the
// lifetime was still running (a periodic reader stopping its loop at
// shutdown, which then exports again) is not a failure and is only logged.
// Timeouts, and exports aborted by Shutdown, are failures: data was lost.
func (l *lifetime) check(ctx context.Context, rep *reporter, sig signal, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) && l.ctx.Err() == nil {
		rep.log.Debug("telemetry export canceled", "signal", sig.String(), "error", err)
	} else {
		if cause := l.ended(); cause != nil && !errors.Is(err, cause) {
			// Say why the export was cut short (the exporter only
			// knows that its context ended).
			err = fmt.Errorf("%w: %w", err, cause)
		}
		rep.report(sig, err)
	}
	return &exportError{sig: sig, err: err}
}

// spanExporter bounds and reports the exports of the exporter it wraps.
type spanExporter struct {
	sdktrace.SpanExporter
	life *lifetime
	rep  *reporter
	red  *redact.Redactor // masks secrets in every span before export
}

func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.life.ended(); err != nil {
		return e.life.check(ctx, e.rep, sigTraces, fmt.Errorf("%d spans dropped: %w", len(spans), err))
	}
	bound, cancel := e.life.bind(ctx)
	defer cancel()
	return e.life.check(ctx, e.rep, sigTraces, e.SpanExporter.ExportSpans(bound, redactSpans(e.red, spans)))
}

// metricExporter bounds and reports the exports of the exporter it wraps.
type metricExporter struct {
	sdkmetric.Exporter
	life *lifetime
	rep  *reporter
	red  *redact.Redactor // masks secrets in every data point's attributes
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if err := e.life.ended(); err != nil {
		return e.life.check(ctx, e.rep, sigMetrics, fmt.Errorf("metrics dropped: %w", err))
	}
	bound, cancel := e.life.bind(ctx)
	defer cancel()
	return e.life.check(ctx, e.rep, sigMetrics, e.Exporter.Export(bound, redactMetrics(e.red, rm)))
}
