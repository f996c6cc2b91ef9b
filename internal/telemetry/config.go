package telemetry

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otel-qrun/otel-qrun/internal/safefile"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// ErrConfig is wrapped by every error of [Setup] caused by an invalid OTEL_*
// value (unknown exporter or propagator, unsupported OTLP protocol, bad log
// level) or an invalid option. The message names the variable, its value
// and the accepted values. Match it with errors.Is.
var ErrConfig = errors.New("invalid telemetry configuration")

const defaultShutdownTimeout = qrun.DefaultShutdownTimeout

// Environment variables read by this package itself. Everything else is read
// by the SDK.
const (
	envSDKDisabled      = "OTEL_SDK_DISABLED"
	envLogLevel         = "OTEL_LOG_LEVEL"
	envPropagators      = "OTEL_PROPAGATORS"
	envTracesExporter   = "OTEL_TRACES_EXPORTER"
	envMetricsExporter  = "OTEL_METRICS_EXPORTER"
	envProtocol         = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol   = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envMetricsProtocol  = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	envMetricsProducers = "OTEL_METRICS_PRODUCERS"
)

// Option configures [Setup].
type Option func(*config)

type config struct {
	errWriter       io.Writer
	logger          *slog.Logger
	shutdownTimeout time.Duration
	serviceName     string
	attrs           []attribute.KeyValue
	global          bool
	environ         []string
	noMetrics       bool
	lazyConnect     bool
	deferWarmUp     bool
	exitCloses      bool
	noHint          bool
}

func newConfig(opts []Option) (*config, error) {
	cfg := &config{
		errWriter:       os.Stderr,
		shutdownTimeout: defaultShutdownTimeout,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(cfg)
		}
	}
	if cfg.environ == nil {
		cfg.environ = os.Environ()
	}
	if cfg.shutdownTimeout < 0 {
		return nil, fmt.Errorf("%w: negative shutdown timeout %v", ErrConfig, cfg.shutdownTimeout)
	}
	return cfg, nil
}

// WithoutMetrics creates no metric exporter: for short-lived commands that
// record no metrics (the MeterProvider is still a working SDK provider).
// OTEL_METRICS_EXPORTER is still validated.
func WithoutMetrics() Option { return func(c *config) { c.noMetrics = true } }

// WithoutEarlyConnect leaves the OTLP/gRPC connection closed until the
// first export, instead of opening it in the background at Setup: for
// commands that may export nothing.
func WithoutEarlyConnect() Option { return func(c *config) { c.lazyConnect = true } }

// WithDeferredWarmUp leaves the SDK's background start (opening the
// OTLP/gRPC connection, the first encoding of the OTLP messages) to
// [SDK.WarmUp] instead of starting it in Setup: for a launcher whose own
// start (forking its first worker) is what a short run waits for, and
// which the background start would compete with for the CPUs
// (BenchmarkPrefix). Without WarmUp, the connection opens at the first
// export, as with [WithoutEarlyConnect].
func WithDeferredWarmUp() Option { return func(c *config) { c.deferWarmUp = true } }

// WithExitAfterShutdown is for a process that exits right after
// [SDK.Shutdown]: Shutdown begins the close of its OTLP/gRPC connections,
// once every export has ended, and returns without waiting for it (gRPC's
// close waits for the transport's reader and writer goroutines, 0.2 ms of
// a short run's end on a 2-core machine: BenchmarkPrefix); the process's
// exit closes the sockets. Nothing exported is lost: the close comes after
// the providers' shut-down.
func WithExitAfterShutdown() Option { return func(c *config) { c.exitCloses = true } }

// WithoutCollectorHint leaves out the hint line for a refused default
// collector (the refusal stays no error): for a worker whose launcher
// reads the same OTEL_* variables and prints it once for the whole run.
func WithoutCollectorHint() Option { return func(c *config) { c.noHint = true } }

// WithErrorWriter sets where export errors are reported, where the console
// exporters write, and where the default logger writes. The default is
// os.Stderr; nil keeps the default. Writes are serialized by the SDK.
func WithErrorWriter(w io.Writer) Option {
	return func(c *config) {
		if w != nil {
			c.errWriter = w
		}
	}
}

// WithLogger sets the base logger, returned as [SDK.Logger] and used (with
// component=otel) as otel's internal logger. When OTEL_LOG_LEVEL is set,
// records below that level are dropped; the logger's own handler still
// applies its level, so OTEL_LOG_LEVEL can make the logger quieter but not
// more verbose than its handler allows. Without this option a text logger
// on the error writer is created, at OTEL_LOG_LEVEL (default info).
// otel's internal logger logs at OTEL_LOG_LEVEL, or at warn when it is
// unset (otel's info level logs every tracer and meter created).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithShutdownTimeout bounds [SDK.Shutdown] (default 3s). Zero means
// abandon unexported telemetry at once. Negative values are an error.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = d }
}

// WithServiceName sets the default service.name, used only when neither
// OTEL_SERVICE_NAME nor service.name in OTEL_RESOURCE_ATTRIBUTES is set.
// Without it the SDK default "unknown_service:<executable>" applies.
func WithServiceName(def string) Option {
	return func(c *config) { c.serviceName = def }
}

// WithResourceAttributes adds resource attributes (e.g.
// service.instance.id). Each is used only when the environment
// (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) does not set that key. The
// option may be given several times; later values of a key win.
func WithResourceAttributes(kv ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, kv...) }
}

// WithGlobal installs the tracer provider, meter provider and propagator as
// otel globals (otel.SetTracerProvider, otel.SetMeterProvider,
// otel.SetTextMapPropagator).
func WithGlobal() Option {
	return func(c *config) { c.global = true }
}

// WithEnviron sets the environment ("KEY=value" entries, last one wins) from
// which Setup reads OTEL_SDK_DISABLED, OTEL_LOG_LEVEL, OTEL_PROPAGATORS,
// OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_METRICS_PRODUCERS and
// the OTLP protocol variables. The default is os.Environ(). The SDK's
// exporters, processors and resource detector still read the process
// environment; an exporter name that only autoexport knows is therefore
// accepted only when the process environment holds the same value.
func WithEnviron(environ []string) Option {
	return func(c *config) { c.environ = slices.Clone(environ) }
}

// environ is a parsed environment; the last entry of a key wins, as in
// os/exec.
type environ map[string]string

func parseEnviron(entries []string) environ {
	env := make(environ, len(entries))
	for _, kv := range entries {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// get returns the trimmed value of key.
func (e environ) get(key string) string {
	return strings.TrimSpace(e[key])
}

// splitList splits a comma-separated OTEL_* list: entries trimmed, empty
// ones dropped, duplicates removed, order kept.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

// tlsFileVars are the OTLP exporter variables naming files that the SDK
// reads while the exporters are created.
var tlsFileVars = func() []string {
	var names []string
	for _, signal := range []string{"", "TRACES_", "METRICS_", "LOGS_"} {
		for _, file := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
			names = append(names, "OTEL_EXPORTER_OTLP_"+signal+file)
		}
	}
	return names
}()

// checkTLSFiles checks that every TLS file the SDK will read is a regular
// file of at most 1 MiB: the SDK reads them with os.ReadFile, which would
// block forever on a FIFO and read a device without end.
func checkTLSFiles(env environ) error {
	for _, name := range tlsFileVars {
		if path := env.get(name); path != "" {
			if err := safefile.Check(path, safefile.DefaultLimit); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %s=%q: %w", ErrConfig, name, path, err)
			}
		}
	}
	return nil
}
