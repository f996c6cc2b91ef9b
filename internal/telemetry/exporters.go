package telemetry

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	prometheusbridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

const (
	exporterOTLP    = "otlp"
	exporterConsole = "console"
	exporterNone    = "none"

	protocolGRPC = "grpc"
	protocolHTTP = "http/protobuf"
)

// signalSpec describes the exporter variable of one signal.
type signalSpec struct {
	envExporter string
	envProtocol string   // per-signal OTLP protocol variable
	builtin     []string // names autoexport registers for this signal
	accepted    string   // for error messages
}

var (
	tracesSpec = signalSpec{
		envExporter: envTracesExporter,
		envProtocol: envTracesProtocol,
		builtin:     []string{exporterOTLP, exporterConsole, exporterNone},
		accepted:    "otlp, console, none (comma-separated), or a single name registered with autoexport",
	}
	metricsSpec = signalSpec{
		envExporter: envMetricsExporter,
		envProtocol: envMetricsProtocol,
		builtin:     []string{exporterOTLP, exporterConsole, exporterNone, "prometheus"},
		accepted:    "otlp, console, none (comma-separated), prometheus, or a single name registered with autoexport",
	}
)

// exporterPlan is what the exporter variable of one signal asks for.
type exporterPlan struct {
	// names holds "otlp" and "console" entries, de-duplicated, in order.
	names []string
	// protocol is the OTLP protocol when names holds "otlp".
	protocol string
	// delegate is true when the variable holds one name that only
	// autoexport can create.
	delegate bool
	raw      string
}

// otlp reports whether the plan exports over OTLP.
func (p exporterPlan) otlp() bool { return slices.Contains(p.names, exporterOTLP) }

func planExporters(env environ, spec signalSpec) (exporterPlan, error) {
	raw := env.get(spec.envExporter)
	plan := exporterPlan{raw: raw}
	names := splitList(raw)
	if len(names) == 0 {
		names = []string{exporterOTLP} // the specification's default
	}
	for _, name := range names {
		switch lower := strings.ToLower(name); lower {
		case exporterOTLP, exporterConsole:
			if !slices.Contains(plan.names, lower) {
				plan.names = append(plan.names, lower)
			}
		case exporterNone:
		default:
			if len(names) > 1 {
				return exporterPlan{}, fmt.Errorf("%w: %s=%q: exporter %q is unknown or cannot be combined with others (accepted: %s)",
					ErrConfig, spec.envExporter, raw, name, spec.accepted)
			}
			// autoexport reads the name from the process environment.
			if procRaw := os.Getenv(spec.envExporter); procRaw != env[spec.envExporter] {
				return exporterPlan{}, fmt.Errorf("%w: %s=%q: exporter %q is created by autoexport, which reads %s from the process environment, where it is %q",
					ErrConfig, spec.envExporter, raw, name, spec.envExporter, procRaw)
			}
			plan.delegate = true
		}
	}
	if slices.Contains(plan.names, exporterOTLP) {
		key := spec.envProtocol
		proto := env.get(key)
		if proto == "" {
			key = envProtocol
			proto = env.get(key)
		}
		switch proto {
		case "", protocolHTTP:
			plan.protocol = protocolHTTP
		case protocolGRPC:
			plan.protocol = protocolGRPC
		default:
			return exporterPlan{}, fmt.Errorf("%w: %s=%q: unsupported OTLP protocol (accepted: grpc, http/protobuf)", ErrConfig, key, proto)
		}
	}
	return plan, nil
}

// planProducers reads OTEL_METRICS_PRODUCERS, used by the readers built here
// as autoexport uses it for its own.
func planProducers(env environ) ([]string, error) {
	raw := env.get(envMetricsProducers)
	var names []string
	for _, name := range splitList(raw) {
		switch lower := strings.ToLower(name); lower {
		case "prometheus":
			if !slices.Contains(names, lower) {
				names = append(names, lower)
			}
		case exporterNone:
		default:
			return nil, fmt.Errorf("%w: %s=%q: unknown metric producer %q (accepted: prometheus, none)", ErrConfig, envMetricsProducers, raw, name)
		}
	}
	return names, nil
}

// builder creates exporters, wrapped to be bounded by life and reported by
// rep.
type builder struct {
	errW    io.Writer
	console string // consoleText or consoleJSON
	life    *lifetime
	rep     *reporter
	red     *redact.Redactor
	conns   *grpcConns
}

func (b *builder) spanExporters(ctx context.Context, plan exporterPlan) ([]sdktrace.SpanExporter, error) {
	var exps []sdktrace.SpanExporter
	fail := func(name string, err error) ([]sdktrace.SpanExporter, error) {
		shutdownAll(exps, func(e sdktrace.SpanExporter) func(context.Context) error { return e.Shutdown })
		return nil, fmt.Errorf("%w: %s=%q: create %s trace exporter: %w", ErrConfig, envTracesExporter, plan.raw, name, err)
	}
	if plan.delegate {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return fail(plan.raw, fmt.Errorf("%w (accepted: %s)", err, tracesSpec.accepted))
		}
		return []sdktrace.SpanExporter{b.wrapSpans(exp, b.life)}, nil
	}
	for _, name := range plan.names {
		var (
			exp  sdktrace.SpanExporter
			err  error
			life = b.life
		)
		switch {
		case name == exporterConsole && b.console == consoleText:
			exp = &textSpanExporter{w: b.errW}
		case name == exporterConsole:
			exp, err = stdouttrace.New(stdouttrace.WithWriter(b.errW))
		case plan.protocol == protocolGRPC:
			var opts []otlptracegrpc.Option
			if g, gerr := b.conns.get("TRACES"); gerr != nil {
				return fail(name, gerr)
			} else if g != nil {
				opts, life = append(opts, otlptracegrpc.WithGRPCConn(g.conn)), g.life
			}
			exp, err = otlptracegrpc.New(ctx, opts...)
		default:
			var opts []otlptracehttp.Option
			if plaintextDefault(os.Getenv, "TRACES") {
				opts = append(opts, otlptracehttp.WithInsecure())
			}
			exp, err = otlptracehttp.New(ctx, opts...)
		}
		if err != nil {
			return fail(name, err)
		}
		exps = append(exps, b.wrapSpans(exp, life))
	}
	return exps, nil
}

func (b *builder) wrapSpans(exp sdktrace.SpanExporter, life *lifetime) sdktrace.SpanExporter {
	return &spanExporter{SpanExporter: exp, life: life, rep: b.rep, red: b.red}
}

func (b *builder) metricReaders(ctx context.Context, plan exporterPlan, producers []string) ([]sdkmetric.Reader, error) {
	var readers []sdkmetric.Reader
	fail := func(name string, err error) ([]sdkmetric.Reader, error) {
		shutdownAll(readers, func(r sdkmetric.Reader) func(context.Context) error { return r.Shutdown })
		return nil, fmt.Errorf("%w: %s=%q: create %s metric exporter: %w", ErrConfig, envMetricsExporter, plan.raw, name, err)
	}
	if plan.delegate {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return fail(plan.raw, fmt.Errorf("%w (accepted: %s)", err, metricsSpec.accepted))
		}
		return []sdkmetric.Reader{r}, nil
	}
	var opts []sdkmetric.PeriodicReaderOption
	for range producers { // only "prometheus" is accepted
		opts = append(opts, sdkmetric.WithProducer(prometheusbridge.NewMetricProducer()))
	}
	for _, name := range plan.names {
		var (
			exp  sdkmetric.Exporter
			err  error
			life = b.life
		)
		switch {
		case name == exporterConsole && b.console == consoleText:
			exp = &textMetricExporter{w: b.errW}
		case name == exporterConsole:
			exp, err = stdoutmetric.New(stdoutmetric.WithWriter(b.errW))
		case plan.protocol == protocolGRPC:
			var opts []otlpmetricgrpc.Option
			if g, gerr := b.conns.get("METRICS"); gerr != nil {
				return fail(name, gerr)
			} else if g != nil {
				opts, life = append(opts, otlpmetricgrpc.WithGRPCConn(g.conn)), g.life
			}
			exp, err = otlpmetricgrpc.New(ctx, opts...)
		default:
			var opts []otlpmetrichttp.Option
			if plaintextDefault(os.Getenv, "METRICS") {
				opts = append(opts, otlpmetrichttp.WithInsecure())
			}
			exp, err = otlpmetrichttp.New(ctx, opts...)
		}
		if err != nil {
			return fail(name, err)
		}
		// The reader reads OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT.
		readers = append(readers, sdkmetric.NewPeriodicReader(
			&metricExporter{Exporter: exp, life: life, rep: b.rep, red: b.red}, opts...))
	}
	return readers, nil
}

// shutdownAll releases what was created before a later creation failed.
// Nothing has been exported yet, so this is quick.
func shutdownAll[T any](items []T, shutdown func(T) func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, it := range items {
		_ = shutdown(it)(ctx) // the creation error is what matters
	}
}
