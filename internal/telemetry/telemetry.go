package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

// SDK is an OpenTelemetry SDK set up from the environment by [Setup]. Its
// fields are not to be changed. Call [SDK.Shutdown] before exiting.
type SDK struct {
	// TracerProvider creates the tracers: a real SDK provider (even with
	// OTEL_TRACES_EXPORTER=none, so span contexts are valid and can be
	// handed to workers), or a no-op provider when Disabled.
	TracerProvider trace.TracerProvider
	// MeterProvider creates the meters; a no-op provider when Disabled.
	MeterProvider metric.MeterProvider
	// Propagator injects and extracts carriers, as OTEL_PROPAGATORS says
	// (default tracecontext,baggage). It is set even when Disabled.
	Propagator propagation.TextMapPropagator
	// Disabled is true when OTEL_SDK_DISABLED=true: no SDK was created.
	Disabled bool
	// Logger is the logger at the level of OTEL_LOG_LEVEL (see WithLogger).
	Logger *slog.Logger

	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	res     *resource.Resource
	life    *lifetime
	conns   *grpcConns
	rep     *reporter
	timeout time.Duration
	warm    *sync.WaitGroup // warmOTLP
	// exitCloses: Shutdown leaves the connections' close to the
	// process's exit (WithExitAfterShutdown).
	exitCloses bool

	// background is the SDK's background start (the early connection,
	// warmOTLP): run by Setup, or by WarmUp with WithDeferredWarmUp.
	background func()
	bgMu       sync.Mutex
	bgDone     bool // background ran, or Shutdown began

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup creates the SDK described by the environment and the options.
//
// Errors caused by the configuration wrap [ErrConfig]; nothing global is
// changed when Setup fails. Setup never waits for the collector: an
// OTLP/gRPC connection is opened in the background (at the first export
// with [WithoutEarlyConnect]; at [SDK.WarmUp] with [WithDeferredWarmUp]),
// one shared by traces and metrics when they go to the same collector with
// the same settings; an unreachable collector is noticed, and reported
// once, by the first export.
//
// Unless OTEL_SDK_DISABLED=true, Setup installs otel's global error handler
// (export errors once per signal on the error writer) and otel's internal
// logger (the SDK logger with component=otel). The logger is installed
// first, because the SDK's exporters log while being created, and stays
// installed when Setup fails later; the error handler only when Setup
// succeeds. With [WithGlobal] it also installs the providers and the
// propagator as otel globals.
//
// Secrets (see package internal/redact) of the environment given with
// [WithEnviron] and of the process environment are masked in everything the
// SDK prints: the error writer (export errors, console exporters), the
// logger (so [SDK.Logger] masks too), and the resource and span attributes,
// names, status descriptions and events it exports.
func Setup(ctx context.Context, opts ...Option) (_ *SDK, err error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	env := parseEnviron(cfg.environ)

	// Read and validate everything before creating anything.
	level, levelSet, err := parseLogLevel(env)
	if err != nil {
		return nil, err
	}
	prop, err := newPropagator(env)
	if err != nil {
		return nil, err
	}
	console, err := consoleFormat(env, cfg.errWriter)
	if err != nil {
		return nil, err
	}
	// Everything the SDK writes or logs passes through one redaction, which
	// knows the secrets of the given and the process environment (the SDK
	// reads the latter).
	red := redact.New(append(slices.Clone(cfg.environ), os.Environ()...))
	errW := &syncWriter{w: redact.NewWriter(cfg.errWriter, red)}
	logger := newLogger(cfg.logger, errW, level, levelSet)
	logger = slog.New(redact.NewHandler(logger.Handler(), red))

	if v := env.get(envSDKDisabled); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
		// The specification's boolean variables: anything but a
		// case-insensitive "true" is false, and any value other than
		// "false" or empty SHOULD be warned of (configuration/
		// sdk-environment-variables.md, "Boolean value").
		logger.Warn(envSDKDisabled+" is neither true nor false: taken as false, the SDK runs",
			"component", "telemetry", "value", v)
	}
	if env.sdkDisabled() {
		s := &SDK{
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Propagator:     prop,
			Disabled:       true,
			Logger:         logger,
		}
		if cfg.global {
			s.installGlobals()
		}
		return s, nil
	}

	tracesPlan, err := planExporters(env, tracesSpec)
	if err != nil {
		return nil, err
	}
	metricsPlan, err := planExporters(env, metricsSpec)
	if err != nil {
		return nil, err
	}
	if err := checkTLSFiles(env); err != nil {
		return nil, err
	}
	if cfg.noMetrics {
		metricsPlan = exporterPlan{raw: metricsPlan.raw}
	}
	var producers []string
	if !metricsPlan.delegate && len(metricsPlan.names) > 0 {
		if producers, err = planProducers(env); err != nil {
			return nil, err
		}
	}

	rep := newReporter(errW, logger.With("component", "telemetry"))
	rep.unasked, rep.noHint = unaskedSignals(env), cfg.noHint

	// Install otel's logger before anything of the SDK is created: its exporters log while reading the environment (a
	// header value that does not decode, an endpoint that does not
	// parse), and otel's default logger would print the value in clear.
	//
	// otel's info level is chatty (a line per tracer created); unless
	// OTEL_LOG_LEVEL asks for it, its internal logger stays at warn, as
	// quiet as the SDK's default logger.
	otelMin := slog.LevelWarn
	if levelSet {
		otelMin = level
	}
	otel.SetLogger(logr.FromSlogHandler(newOtelHandler(&levelHandler{
		min:  otelMin,
		next: logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "otel")}),
	})))

	// otel's error handler too, before anything of the SDK is created:
	// resource detection reports a malformed OTEL_RESOURCE_ATTRIBUTES
	// through it, and otel's default handler prints it with the standard
	// library's log, outside the redaction and the once-per-signal rule.
	// A Setup that fails from here on puts the previous one back.
	prevHandler := otel.GetErrorHandler()
	otel.SetErrorHandler(rep)
	defer func() {
		if err != nil {
			otel.SetErrorHandler(prevHandler)
		}
	}()
	res, err := newResource(ctx, cfg, rep)
	if err != nil {
		return nil, err
	}
	res = redactResource(red, res)

	life := newLifetime()
	conns := &grpcConns{parent: life, lazy: cfg.lazyConnect}
	b := &builder{errW: errW, console: console, life: life, rep: rep, red: red, conns: conns}
	spanExps, err := b.spanExporters(ctx, tracesPlan)
	if err != nil {
		_ = conns.close()
		return nil, err
	}
	readers, err := b.metricReaders(ctx, metricsPlan, producers)
	if err != nil {
		shutdownAll(spanExps, func(e sdktrace.SpanExporter) func(context.Context) error { return e.Shutdown })
		_ = conns.close()
		return nil, err
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, exp := range spanExps {
		// The batch span processor reads OTEL_BSP_*; it never blocks
		// span.End (a full queue drops spans).
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, r := range readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	var warm sync.WaitGroup
	traceOTLP, metricOTLP := tracesPlan.otlp(), metricsPlan.otlp()
	background := func() {
		conns.connect()
		if traceOTLP || metricOTLP {
			warm.Go(func() { warmOTLP(traceOTLP, metricOTLP) })
		}
	}

	s := &SDK{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     prop,
		Logger:         logger,
		tp:             tp,
		mp:             mp,
		res:            res,
		life:           life,
		conns:          conns,
		rep:            rep,
		timeout:        cfg.shutdownTimeout,
		exitCloses:     cfg.exitCloses,
		warm:           &warm,
		background:     background,
	}
	if !cfg.deferWarmUp {
		s.WarmUp()
	}
	if cfg.global {
		s.installGlobals()
	}
	return s, nil
}

// WarmUp starts, in the background, what Setup leaves for later with
// [WithDeferredWarmUp]: opening the OTLP/gRPC connection (unless
// [WithoutEarlyConnect]) and the first encoding of each OTLP message type
// (warmOTLP). It returns at once; only the first call does anything, and
// none after Shutdown has begun. Shutdown waits for what it started.
func (s *SDK) WarmUp() {
	if s == nil || s.background == nil {
		return
	}
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if !s.bgDone {
		s.bgDone = true
		s.background()
	}
}

// FlushTraces exports the spans ended so far, as the tracer provider's
// ForceFlush, and returns when they are exported, or when Shutdown has
// aborted the exports (its deadline, a collector that refused every
// connection). A run calls it in the background once its workers are
// gone, so that the export overlaps what the launcher still has to do;
// Shutdown then finds nothing left to export. A no-op when Disabled.
func (s *SDK) FlushTraces(ctx context.Context) {
	if s == nil || s.tp == nil {
		return
	}
	_ = s.tp.ForceFlush(ctx)
}

func (s *SDK) installGlobals() {
	otel.SetTracerProvider(s.TracerProvider)
	otel.SetMeterProvider(s.MeterProvider)
	otel.SetTextMapPropagator(s.Propagator)
}

// Shutdown flushes what is buffered and shuts the SDK down. It returns
// within the shutdown timeout even when ctx has no deadline (sooner when
// ctx ends first), whatever the collector does: exports still running
// shortly before the deadline are aborted. Exports to an OTLP/gRPC
// collector that refused every connection so far are abandoned at once. It is idempotent: later calls
// return the first call's result. The error tells that telemetry was lost
// (an export failed at some point, or the flush did not finish in time);
// callers should treat it as a warning. Shutdown of a disabled SDK does
// nothing.
func (s *SDK) Shutdown(ctx context.Context) error {
	if s == nil || s.tp == nil {
		return nil
	}
	s.shutdownOnce.Do(func() {
		s.bgMu.Lock()
		s.bgDone = true // no WarmUp from now on
		s.bgMu.Unlock()
		s.shutdownErr = s.shutdown(ctx)
		s.warm.Wait() // well done by now: a goroutine of the SDK's ends with it
	})
	return s.shutdownErr
}

func (s *SDK) shutdown(ctx context.Context) error {
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	// Abort the exports a little before the deadline, so that the
	// processors and readers still finish, and their goroutines end,
	// within it.
	budget := time.Until(deadline)
	grace := min(budget/4, 500*time.Millisecond)
	abort := time.AfterFunc(budget-grace, func() { s.life.cancel(errShutdownTimeout) })
	defer abort.Stop()
	stop := context.AfterFunc(ctx, func() { s.life.cancel(context.Cause(ctx)) })
	defer stop()
	defer s.life.cancel(errors.New("telemetry shut down"))
	// A collector that refused every connection is given up on now.
	s.conns.beginShutdown()
	defer func() {
		if s.exitCloses {
			go s.conns.close() // the exit closes them (WithExitAfterShutdown)
			return
		}
		_ = s.conns.close()
	}()

	// Both signals get the whole budget. A provider that has not returned
	// by the deadline is left to finish in the background (its exports
	// are aborted by then, so it ends soon).
	type result struct {
		sig signal
		err error
	}
	results := make(chan result, 2)
	go func() { results <- result{sigTraces, s.tp.Shutdown(ctx)} }()
	go func() { results <- result{sigMetrics, s.mp.Shutdown(ctx)} }()
	var (
		errs     [2]error
		finished [2]bool
	)
collect:
	for range 2 {
		select {
		case r := <-results:
			errs[r.sig], finished[r.sig] = r.err, true
		case <-ctx.Done():
			break collect
		}
	}
	for _, sig := range []signal{sigTraces, sigMetrics} {
		if !finished[sig] {
			errs[sig] = fmt.Errorf("not finished: %w", context.Cause(ctx))
		}
	}
	return errors.Join(
		s.signalError(sigTraces, errs[sigTraces]),
		s.signalError(sigMetrics, errs[sigMetrics]),
	)
}

// signalError combines the first export error of sig with the error of its
// provider's shutdown.
func (s *SDK) signalError(sig signal, shutdownErr error) error {
	var errs []error
	exportErr := s.rep.firstError(sig)
	if exportErr != nil {
		errs = append(errs, fmt.Errorf("%s export failed: %w", sig, exportErr))
	}
	if shutdownErr != nil && (exportErr == nil || !errors.Is(shutdownErr, exportErr)) {
		errs = append(errs, fmt.Errorf("shut down %s: %w", sig, shutdownErr))
	}
	return errors.Join(errs...)
}

// newPropagator builds the propagator of OTEL_PROPAGATORS with autoprop;
// unset means tracecontext,baggage.
func newPropagator(env environ) (propagation.TextMapPropagator, error) {
	raw := env.get(envPropagators)
	names := splitList(raw)
	if len(names) == 0 {
		// What autoprop.NewTextMapPropagator gives without OTEL_PROPAGATORS.
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), nil
	}
	prop, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=%q: %w (accepted: tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, none, or a name registered with autoprop)",
			ErrConfig, envPropagators, raw, err)
	}
	return prop, nil
}

// newResource detects the resource. Later sources win: SDK defaults
// (service.name unknown_service:<exe>, a random service.instance.id),
// telemetry.sdk.*, host.name, process.pid, process.executable.name and
// process.runtime.*, then the options, then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME. The process owner and command line are left out: they
// may hold secrets.
func newResource(ctx context.Context, cfg *config, rep *reporter) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if cfg.serviceName != "" {
		attrs = append(attrs, attribute.String("service.name", cfg.serviceName))
	}
	attrs = append(attrs, cfg.attrs...)
	res, err := resource.New(ctx,
		resource.WithService(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil {
		if res == nil {
			return nil, fmt.Errorf("detect resource: %w", err)
		}
		// A malformed OTEL_RESOURCE_ATTRIBUTES entry, say: the SDK keeps
		// what it could read, and so do we.
		rep.report(sigOther, fmt.Errorf("detect resource: %w", err))
	}
	return res, nil
}
