package forkinit

import (
	"context"
	"github.com/otel-qrun/otel-qrun/qrun"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/propagate"
)

type config struct {
	serviceName string
	timeout     time.Duration
	errOut      io.Writer
	logger      *slog.Logger
	environ     []string
}

// Option configures [Init].
type Option func(*config)

// WithServiceName sets the service name used when neither OTEL_SERVICE_NAME
// nor service.name in OTEL_RESOURCE_ATTRIBUTES is set.
func WithServiceName(name string) Option { return func(c *config) { c.serviceName = name } }

// WithShutdownTimeout bounds the flush of the shutdown function (default 3s).
func WithShutdownTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithErrorWriter sets where console exporters and the one-time export error
// report go (default os.Stderr). Console output never goes to stdout.
func WithErrorWriter(w io.Writer) Option { return func(c *config) { c.errOut = w } }

// WithLogger sets the logger for warnings, such as a malformed inherited
// TRACEPARENT (default: text on the error writer).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// underLauncher reports whether environ is a worker's of otel-qrun (it
// holds QRUN_WORKER_INDEX).
func underLauncher(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, qrun.EnvWorkerIndex+"=") {
			return true
		}
	}
	return false
}

// ShutdownFunc flushes and stops the SDK. It is bounded by the shutdown
// timeout and safe to call more than once.
type ShutdownFunc func(context.Context) error

// Init initializes the worker's SDK from the process environment, installs
// it as the otel global tracer and meter provider and propagator, and returns
// ctx continuing the inherited carrier together with the shutdown function.
//
// A malformed inherited carrier is not an error: it is logged, and the
// worker's spans start a new trace. With OTEL_SDK_DISABLED=true no SDK is
// created, but the returned context still carries the inherited span
// context, so the global propagator passes it on unchanged. An error is
// returned only for an invalid configuration (an unknown exporter name, say).
func Init(ctx context.Context, opts ...Option) (context.Context, ShutdownFunc, error) {
	cfg := config{errOut: os.Stderr, environ: os.Environ()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(cfg.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	topts := []telemetry.Option{
		telemetry.WithEnviron(cfg.environ),
		telemetry.WithErrorWriter(cfg.errOut),
		telemetry.WithLogger(cfg.logger),
		telemetry.WithGlobal(),
		// Used only when the launcher did not set one (a worker run by hand).
		telemetry.WithResourceAttributes(attribute.String("service.instance.id", uuid.NewString())),
	}
	if cfg.serviceName != "" {
		topts = append(topts, telemetry.WithServiceName(cfg.serviceName))
	}
	if cfg.timeout > 0 {
		topts = append(topts, telemetry.WithShutdownTimeout(cfg.timeout))
	}
	if underLauncher(cfg.environ) {
		// The launcher reads the same OTEL_* variables and prints the
		// hint for a refused default collector once for the run.
		topts = append(topts, telemetry.WithoutCollectorHint())
	}
	sdk, err := telemetry.Setup(ctx, topts...)
	if err != nil {
		return ctx, func(context.Context) error { return nil }, err
	}
	ctx, xerr := propagate.ExtractEnv(ctx, sdk.Propagator, cfg.environ)
	if xerr != nil {
		sdk.Logger.Warn("ignoring the inherited trace context; spans start a new trace", "error", xerr)
	}
	return ctx, sdk.Shutdown, nil
}
