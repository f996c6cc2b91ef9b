package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

var receivers = []struct {
	name string
	new  func(testing.TB) *otlptest.Receiver
}{
	{"grpc", otlptest.NewGRPC},
	{"http", otlptest.NewHTTP},
}

func spanNamed(spans []otlptest.Span, name string) (otlptest.Span, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return otlptest.Span{}, false
}

func metricNamed(ms []otlptest.Metric, name string) (otlptest.Metric, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Name == name {
			return ms[i], true
		}
	}
	return otlptest.Metric{}, false
}

func TestExport(t *testing.T) {
	for _, rc := range receivers {
		for _, fromEnv := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/env=%t", rc.name, fromEnv), func(t *testing.T) {
				cleanEnv(t)
				r := rc.new(t)
				r.Setenv(t)
				wantService, wantInstance := "otel-qrun", "from-option"
				if fromEnv {
					setenv(t, "OTEL_SERVICE_NAME=from-env-svc",
						"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=from-env,deployment.environment.name=test")
					wantService, wantInstance = "from-env-svc", "from-env"
				}
				errBuf := newBuffer()
				s := setup(t, WithErrorWriter(errBuf), WithServiceName("otel-qrun"),
					WithResourceAttributes(attribute.String("service.instance.id", "from-option")))
				if s.Disabled {
					t.Fatal("Disabled = true")
				}

				ctx := context.Background()
				tracer := s.TracerProvider.Tracer("telemetry-test")
				ctx, parent := tracer.Start(ctx, "parent")
				_, child := tracer.Start(ctx, "child", trace.WithAttributes(attribute.Int("qrun.worker.index", 2)))
				child.End()
				parent.End()
				starts, err := s.MeterProvider.Meter("telemetry-test").Int64Counter("qrun.worker.starts")
				if err != nil {
					t.Fatal(err)
				}
				starts.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "initial")))

				// Exported while running (50 ms batch delay, 100 ms
				// metric interval), not only at shutdown.
				spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 2 }, waitFor)
				ms := r.WaitMetrics(t, func(ms []otlptest.Metric) bool {
					_, ok := metricNamed(ms, "qrun.worker.starts")
					return ok
				}, waitFor)

				p, _ := spanNamed(spans, "parent")
				c, _ := spanNamed(spans, "child")
				if p.SpanID != parent.SpanContext().SpanID().String() || p.ParentSpanID != "" {
					t.Errorf("parent = %+v", p)
				}
				if c.TraceID != p.TraceID || c.ParentSpanID != p.SpanID || c.Attrs["qrun.worker.index"] != int64(2) {
					t.Errorf("child = %+v, parent = %+v", c, p)
				}
				for _, res := range []map[string]any{p.Resource, ms[len(ms)-1].Resource} {
					if res["service.name"] != wantService || res["service.instance.id"] != wantInstance {
						t.Errorf("resource service.name=%v service.instance.id=%v, want %s, %s",
							res["service.name"], res["service.instance.id"], wantService, wantInstance)
					}
					if res["telemetry.sdk.language"] != "go" || res["process.pid"] != int64(os.Getpid()) {
						t.Errorf("resource = %v", res)
					}
				}
				m, _ := metricNamed(ms, "qrun.worker.starts")
				if m.Kind != "sum" || !m.Monotonic || len(m.Points) != 1 || m.Points[0].Value != 1 || m.Points[0].Attrs["reason"] != "initial" {
					t.Errorf("metric = %+v", m)
				}

				if err := s.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				if got := errBuf.String(); got != "" {
					t.Errorf("error writer got %q", got)
				}
			})
		}
	}
}

func TestResourcePrecedence(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		env                 []string
		opts                []Option
		service, instance   string
		extraKey, extraWant string
	}{
		{
			name:    "options",
			opts:    []Option{WithServiceName("otel-qrun"), WithResourceAttributes(attribute.String("service.instance.id", "opt"))},
			service: "otel-qrun", instance: "opt",
		},
		{
			name:    "OTEL_SERVICE_NAME wins over the default",
			env:     []string{"OTEL_SERVICE_NAME=svc-env"},
			opts:    []Option{WithServiceName("otel-qrun"), WithResourceAttributes(attribute.String("service.instance.id", "opt"))},
			service: "svc-env", instance: "opt",
		},
		{
			name:    "OTEL_RESOURCE_ATTRIBUTES wins over options",
			env:     []string{"OTEL_RESOURCE_ATTRIBUTES=service.name=svc-attr,service.instance.id=inst-env,qrun.worker.index=3"},
			opts:    []Option{WithServiceName("otel-qrun"), WithResourceAttributes(attribute.String("service.instance.id", "opt"), attribute.Int("qrun.worker.index", 9))},
			service: "svc-attr", instance: "inst-env", extraKey: "qrun.worker.index", extraWant: "3",
		},
		{
			name:    "OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES",
			env:     []string{"OTEL_SERVICE_NAME=svc-env", "OTEL_RESOURCE_ATTRIBUTES=service.name=svc-attr"},
			opts:    []Option{WithServiceName("otel-qrun")},
			service: "svc-env",
		},
		{
			name:    "SDK defaults",
			service: "unknown_service:" + filepath.Base(exe),
		},
		{
			name:     "option attributes the env does not set are kept",
			env:      []string{"OTEL_RESOURCE_ATTRIBUTES=team=a"},
			opts:     []Option{WithResourceAttributes(attribute.String("qrun.cluster", "emails"))},
			service:  "unknown_service:" + filepath.Base(exe),
			extraKey: "qrun.cluster", extraWant: "emails",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
			setenv(t, tt.env...)
			s := setup(t, tt.opts...)
			got := map[string]string{}
			for _, kv := range s.res.Attributes() {
				got[string(kv.Key)] = kv.Value.Emit()
			}
			if got["service.name"] != tt.service {
				t.Errorf("service.name = %q, want %q", got["service.name"], tt.service)
			}
			if tt.instance != "" && got["service.instance.id"] != tt.instance {
				t.Errorf("service.instance.id = %q, want %q", got["service.instance.id"], tt.instance)
			}
			if got["service.instance.id"] == "" {
				t.Error("service.instance.id is empty")
			}
			if tt.extraKey != "" && got[tt.extraKey] != tt.extraWant {
				t.Errorf("%s = %q, want %q", tt.extraKey, got[tt.extraKey], tt.extraWant)
			}
			for _, key := range []string{"process.pid", "process.executable.name", "process.runtime.name", "host.name", "telemetry.sdk.version"} {
				if got[key] == "" {
					t.Errorf("%s missing from %v", key, got)
				}
			}
			for _, key := range []string{"process.command_args", "process.command_line", "process.owner", "process.executable.path"} {
				if _, ok := got[key]; ok {
					t.Errorf("%s must not be in the resource (may leak secrets)", key)
				}
			}
		})
	}
}

func TestMalformedResourceAttributesAreReportedNotFatal(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none",
		"OTEL_RESOURCE_ATTRIBUTES=good=1,broken")
	errBuf := newBuffer()
	s := setup(t, WithErrorWriter(errBuf))
	if v, ok := s.res.Set().Value("good"); !ok || v.AsString() != "1" {
		t.Errorf("good attribute lost: %v", s.res)
	}
	if lines := errBuf.lines("otel-qrun: telemetry error:"); len(lines) != 1 || !strings.Contains(lines[0], "broken") {
		t.Errorf("error writer = %q", errBuf.String())
	}
}

func TestDisabled(t *testing.T) {
	for _, rc := range receivers {
		t.Run(rc.name, func(t *testing.T) {
			cleanEnv(t)
			r := rc.new(t)
			r.Setenv(t)
			// An exporter name that would be an error is not even read.
			setenv(t, "OTEL_SDK_DISABLED=TRUE", "OTEL_METRICS_EXPORTER=bogus")
			errBuf := newBuffer()
			s := setup(t, WithErrorWriter(errBuf))
			if !s.Disabled || s.Propagator == nil || s.Logger == nil {
				t.Fatalf("sdk = %+v", s)
			}
			ctx, span := s.TracerProvider.Tracer("t").Start(context.Background(), "never")
			if span.SpanContext().IsValid() || span.IsRecording() {
				t.Errorf("span of a disabled SDK is valid: %v", span.SpanContext())
			}
			span.End()
			ctr, _ := s.MeterProvider.Meter("t").Int64Counter("never")
			ctr.Add(ctx, 1)

			start := time.Now()
			if err := s.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Shutdown of a disabled SDK took %v", d)
			}
			if n, m := len(r.Spans()), len(r.Metrics()); n != 0 || m != 0 {
				t.Errorf("received %d spans and %d metrics from a disabled SDK", n, m)
			}
			if errBuf.String() != "" {
				t.Errorf("error writer got %q", errBuf.String())
			}
		})
	}
}

// OTEL_SDK_DISABLED is a boolean of the specification: only a
// case-insensitive "true" disables the SDK, and a value that is neither
// true nor false is warned of once, then taken as false.
func TestSDKDisabledValues(t *testing.T) {
	for _, tt := range []struct {
		value    string
		disabled bool
		warned   bool
	}{
		{"true", true, false},
		{"TRUE", true, false},
		{"false", false, false},
		{"False", false, false},
		{"yes", false, true},
		{"1", false, true},
		{"on", false, true},
	} {
		t.Run(tt.value, func(t *testing.T) {
			cleanEnv(t)
			setenv(t, "OTEL_SDK_DISABLED="+tt.value, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
			errBuf := newBuffer()
			s := setup(t, WithErrorWriter(errBuf))
			if s.Disabled != tt.disabled {
				t.Errorf("Disabled = %t, want %t", s.Disabled, tt.disabled)
			}
			lines := errBuf.lines("")
			warned := len(lines) == 1 && strings.Contains(lines[0], "OTEL_SDK_DISABLED is neither true nor false") &&
				strings.Contains(lines[0], "value="+tt.value)
			if warned != tt.warned || (!tt.warned && len(lines) != 0) {
				t.Errorf("error writer %q, want a warning: %t", lines, tt.warned)
			}
		})
	}
}

func TestDisabledPropagatorPassesContextThrough(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_SDK_DISABLED=true")
	s := setup(t)
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := s.Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	_, span := s.TracerProvider.Tracer("t").Start(ctx, "child")
	out := propagation.MapCarrier{}
	s.Propagator.Inject(trace.ContextWithSpan(context.Background(), span), out)
	if out["traceparent"] != tp {
		t.Errorf("traceparent = %q, want the inherited %q", out["traceparent"], tp)
	}
}

func TestTracesNoneStillCreatesSpans(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewHTTP(t)
	r.Setenv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none") // metrics still otlp
	s := setup(t)

	ctx, parent := s.TracerProvider.Tracer("t").Start(context.Background(), "launcher")
	_, child := s.TracerProvider.Tracer("t").Start(ctx, "worker start")
	if !parent.SpanContext().IsValid() || !child.SpanContext().IsValid() {
		t.Fatalf("span contexts not valid: %v %v", parent.SpanContext(), child.SpanContext())
	}
	if child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Error("child not in the parent's trace")
	}
	carrier := propagation.MapCarrier{}
	s.Propagator.Inject(trace.ContextWithSpan(context.Background(), child), carrier)
	want := fmt.Sprintf("00-%s-%s-01", child.SpanContext().TraceID(), child.SpanContext().SpanID())
	if carrier["traceparent"] != want {
		t.Errorf("traceparent = %q, want %q", carrier["traceparent"], want)
	}
	child.End()
	parent.End()
	ctr, _ := s.MeterProvider.Meter("t").Int64Counter("qrun.worker.starts")
	ctr.Add(ctx, 1)

	r.WaitMetrics(t, func(ms []otlptest.Metric) bool {
		_, ok := metricNamed(ms, "qrun.worker.starts")
		return ok
	}, waitFor)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if spans := r.Spans(); len(spans) != 0 {
		t.Errorf("OTEL_TRACES_EXPORTER=none exported spans:\n%s", otlptest.DumpSpans(spans))
	}
}

func TestAllNone(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewGRPC(t)
	r.Setenv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	s := setup(t)
	_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "x")
	if !span.SpanContext().IsValid() {
		t.Error("span context not valid")
	}
	span.End()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n, m := len(r.Spans()), len(r.Metrics()); n != 0 || m != 0 {
		t.Errorf("received %d spans, %d metrics", n, m)
	}
}

func TestConsoleWritesToErrorWriterNeverStdout(t *testing.T) {
	tests := []struct {
		name      string
		traces    string
		metrics   string
		wantOTLP  bool
		protocols []func(testing.TB) *otlptest.Receiver
	}{
		{name: "console", traces: "console", metrics: "console"},
		{name: "otlp,console", traces: "otlp,console", metrics: "otlp,console", wantOTLP: true},
		{name: "duplicates and spaces", traces: " console , otlp,console,otlp ", metrics: "OTLP, Console", wantOTLP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			r := otlptest.NewGRPC(t)
			r.Setenv(t)
			setenv(t, "OTEL_TRACES_EXPORTER="+tt.traces, "OTEL_METRICS_EXPORTER="+tt.metrics)
			stdout := captureStdout(t)
			errBuf := newBuffer()
			s := setup(t, WithErrorWriter(errBuf))

			ctx, span := s.TracerProvider.Tracer("t").Start(context.Background(), "console-span")
			span.End()
			ctr, _ := s.MeterProvider.Meter("t").Int64Counter("console.metric")
			ctr.Add(ctx, 5)
			if err := s.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}

			if out := stdout(); out != "" {
				t.Errorf("stdout got %q", out)
			}
			got := errBuf.String()
			if !strings.Contains(got, "console-span") || !strings.Contains(got, "console.metric") {
				t.Errorf("error writer lacks the console output: %q", got)
			}
			if tt.wantOTLP {
				spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 1 }, waitFor)
				if len(spans) != 1 {
					t.Errorf("want the span exported once:\n%s", otlptest.DumpSpans(spans))
				}
				r.WaitMetrics(t, func(ms []otlptest.Metric) bool {
					_, ok := metricNamed(ms, "console.metric")
					return ok
				}, waitFor)
			} else if n := len(r.Spans()); n != 0 {
				t.Errorf("console only, yet %d spans exported", n)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		env      []string
		variable string
	}{
		{[]string{"OTEL_TRACES_EXPORTER=bogus"}, "OTEL_TRACES_EXPORTER"},
		{[]string{"OTEL_TRACES_EXPORTER=otlp,bogus"}, "OTEL_TRACES_EXPORTER"},
		{[]string{"OTEL_METRICS_EXPORTER=bogus"}, "OTEL_METRICS_EXPORTER"},
		{[]string{"OTEL_METRICS_EXPORTER=console,prometheus"}, "OTEL_METRICS_EXPORTER"},
		{[]string{"OTEL_TRACES_EXPORTER=prometheus"}, "OTEL_TRACES_EXPORTER"},
		{[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpcx"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=udp", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"},
		{[]string{"OTEL_PROPAGATORS=tracecontext,bogus"}, "OTEL_PROPAGATORS"},
		{[]string{"OTEL_LOG_LEVEL=loud"}, "OTEL_LOG_LEVEL"},
		{[]string{"OTEL_METRICS_PRODUCERS=bogus"}, "OTEL_METRICS_PRODUCERS"},
		{[]string{"OTEL_QRUN_CONSOLE_FORMAT=pretty"}, "OTEL_QRUN_CONSOLE_FORMAT"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			cleanEnv(t)
			setenv(t, tt.env...)
			handler := otel.GetErrorHandler()
			s, err := Setup(context.Background())
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatal("Setup succeeded")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %q does not wrap ErrConfig", err)
			}
			msg := err.Error()
			_, value, _ := strings.Cut(tt.env[0], "=")
			if !strings.Contains(msg, tt.variable) || !strings.Contains(msg, value) || !strings.Contains(msg, "accepted") {
				t.Errorf("error %q does not name %s, its value and the accepted values", msg, tt.variable)
			}
			if otel.GetErrorHandler() != handler {
				t.Error("a failed Setup changed the global error handler")
			}
		})
	}
}

func TestConfigErrorOptions(t *testing.T) {
	cleanEnv(t)
	if _, err := Setup(context.Background(), WithShutdownTimeout(-time.Second)); !errors.Is(err, ErrConfig) {
		t.Errorf("negative shutdown timeout: err = %v", err)
	}
	// An exporter only autoexport knows is read from the process
	// environment by autoexport: a different WithEnviron value is refused.
	_, err := Setup(context.Background(), WithEnviron([]string{"OTEL_METRICS_EXPORTER=prometheus"}))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "OTEL_METRICS_EXPORTER") {
		t.Errorf("WithEnviron prometheus without the process env: err = %v", err)
	}
}

func TestWithEnviron(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewHTTP(t)
	r.Setenv(t) // the exporters read the endpoint from the process
	errBuf := newBuffer()
	stdout := captureStdout(t)
	s := setup(t, WithErrorWriter(errBuf), WithEnviron([]string{
		"OTEL_TRACES_EXPORTER=otlp", // overridden: the last entry wins
		"OTEL_TRACES_EXPORTER=console",
		"OTEL_METRICS_EXPORTER=none",
		"OTEL_PROPAGATORS=b3",
	}))
	_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "from-environ")
	span.End()
	carrier := propagation.MapCarrier{}
	s.Propagator.Inject(trace.ContextWithSpan(context.Background(), span), carrier)
	if carrier["b3"] == "" || carrier["traceparent"] != "" {
		t.Errorf("propagator from WithEnviron not used: %v", carrier)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if out := stdout(); out != "" {
		t.Errorf("stdout got %q", out)
	}
	if !strings.Contains(errBuf.String(), "from-environ") {
		t.Errorf("console output missing: %q", errBuf.String())
	}
	if n, m := len(r.Spans()), len(r.Metrics()); n != 0 || m != 0 {
		t.Errorf("process env used instead of WithEnviron: %d spans, %d metrics", n, m)
	}

	// OTEL_SDK_DISABLED is read from WithEnviron too.
	d := setup(t, WithEnviron([]string{"OTEL_SDK_DISABLED=true"}))
	if !d.Disabled {
		t.Error("OTEL_SDK_DISABLED in WithEnviron ignored")
	}
}

func TestDelegatesSingleNameToAutoexport(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1", "OTEL_EXPORTER_PROMETHEUS_PORT=0")
	s := setup(t)
	ctr, _ := s.MeterProvider.Meter("t").Int64Counter("pulled")
	ctr.Add(context.Background(), 1)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestPropagatorsAndGlobal(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none",
		"OTEL_PROPAGATORS= tracecontext , baggage,b3multi")
	s := setup(t, WithGlobal())
	fields := s.Propagator.Fields()
	for _, want := range []string{"traceparent", "baggage", "x-b3-traceid"} {
		if !slices.Contains(fields, want) {
			t.Errorf("propagator fields %v lack %q", fields, want)
		}
	}
	if otel.GetTracerProvider() != s.TracerProvider || otel.GetMeterProvider() != s.MeterProvider {
		t.Error("WithGlobal did not install the providers")
	}
	if !slices.Contains(otel.GetTextMapPropagator().Fields(), "x-b3-traceid") {
		t.Error("WithGlobal did not install the propagator")
	}
}

func TestNotGlobalByDefault(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	before := otel.GetTracerProvider()
	s := setup(t)
	if otel.GetTracerProvider() != before || otel.GetTracerProvider() == s.TracerProvider {
		t.Error("Setup without WithGlobal changed the global tracer provider")
	}
}

func TestLogLevel(t *testing.T) {
	ctx := context.Background()
	t.Run("debug reaches otel's internal logger", func(t *testing.T) {
		cleanEnv(t)
		setenv(t, "OTEL_LOG_LEVEL=debug", "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=none")
		errBuf := newBuffer()
		s := setup(t, WithErrorWriter(errBuf))
		if !s.Logger.Enabled(ctx, slog.LevelDebug) {
			t.Error("debug not enabled")
		}
		_, span := s.TracerProvider.Tracer("t").Start(ctx, "x")
		span.End()
		_ = s.Shutdown(ctx)
		// The batch span processor logs "exporting spans" at otel's
		// debug verbosity.
		lines := errBuf.lines("exporting spans")
		if len(lines) == 0 || !strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[0], "component=otel") {
			t.Errorf("no otel debug log in %q", errBuf.String())
		}
	})
	t.Run("info hides otel debug", func(t *testing.T) {
		cleanEnv(t)
		setenv(t, "OTEL_LOG_LEVEL=INFO", "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=none")
		errBuf := newBuffer()
		s := setup(t, WithErrorWriter(errBuf))
		if s.Logger.Enabled(ctx, slog.LevelDebug) || !s.Logger.Enabled(ctx, slog.LevelInfo) {
			t.Error("wrong level")
		}
		_, span := s.TracerProvider.Tracer("t").Start(ctx, "x")
		span.End()
		_ = s.Shutdown(ctx)
		if lines := errBuf.lines("exporting spans"); len(lines) != 0 {
			t.Errorf("debug logged at info: %q", lines)
		}
	})
	t.Run("base logger made quieter", func(t *testing.T) {
		cleanEnv(t)
		setenv(t, "OTEL_LOG_LEVEL=warn", "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
		logBuf := newBuffer()
		base := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := setup(t, WithLogger(base))
		if s.Logger.Enabled(ctx, slog.LevelInfo) || !s.Logger.Enabled(ctx, slog.LevelWarn) {
			t.Error("OTEL_LOG_LEVEL=warn not applied to the base logger")
		}
		s.Logger.Warn("hello", "k", "v")
		if !strings.Contains(logBuf.String(), "hello") {
			t.Errorf("base handler not used: %q", logBuf.String())
		}
	})
	t.Run("base logger's level kept without OTEL_LOG_LEVEL, secrets masked", func(t *testing.T) {
		cleanEnv(t)
		setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "MY_API_TOKEN=tok-SECRET-42")
		logBuf := newBuffer()
		base := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := setup(t, WithLogger(base))
		s.Logger.Debug("hello tok-SECRET-42", "k", "tok-SECRET-42")
		if got := logBuf.String(); !strings.Contains(got, `msg="hello [REDACTED]" k=[REDACTED]`) {
			t.Errorf("base handler not used at its level, or secret shown: %q", got)
		}
	})
}

func TestOtelLevelMapping(t *testing.T) {
	tests := []struct{ in, want slog.Level }{
		{slog.LevelError, slog.LevelError}, // logr Error
		{0, slog.LevelInfo},                // V(0)
		{-1, slog.LevelWarn},               // otel Warn: V(1)
		{-4, slog.LevelInfo},               // otel Info: V(4)
		{-8, slog.LevelDebug},              // otel Debug: V(8)
		{-12, slog.LevelDebug},
	}
	for _, tt := range tests {
		if got := otelLevel(tt.in); got != tt.want {
			t.Errorf("otelLevel(%d) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestErrorHandlerDedup(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	errBuf := newBuffer()
	setup(t, WithErrorWriter(errBuf))
	otel.Handle(errors.New("first\nsecond line"))
	otel.Handle(errors.New("again"))
	otel.Handle(&exportError{sig: sigTraces, err: errors.New("already reported")})
	want := "otel-qrun: telemetry error: first; second line; further telemetry errors are not reported\n"
	if got := errBuf.String(); got != want {
		t.Errorf("error writer = %q, want %q", got, want)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewGRPC(t)
	r.Setenv(t)
	s := setup(t)
	_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "once")
	span.End()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 1 }, waitFor); len(spans) != 1 {
		t.Errorf("spans:\n%s", otlptest.DumpSpans(spans))
	}
	var nilSDK *SDK
	if err := nilSDK.Shutdown(context.Background()); err != nil {
		t.Errorf("nil SDK Shutdown: %v", err)
	}
}

func TestWithoutMetricsExportsNoMetrics(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewHTTP(t)
	r.Setenv(t)
	s := setup(t, WithoutMetrics())
	ctx, span := s.TracerProvider.Tracer("telemetry-test").Start(context.Background(), "only")
	span.End()
	c, err := s.MeterProvider.Meter("telemetry-test").Int64Counter("ignored")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 1)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := len(r.Spans()); n != 1 {
		t.Errorf("%d spans exported, want 1", n)
	}
	if m := r.Metrics(); len(m) != 0 {
		t.Errorf("metrics exported with WithoutMetrics: %s", otlptest.DumpMetrics(m))
	}
}

// A value the SDK cannot parse is one warning, not one per exporter that
// reads it, and the warning names one component.
func TestOtelWarningOnce(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewHTTP(t)
	r.Setenv(t)
	setenv(t, "OTEL_EXPORTER_OTLP_TIMEOUT=abc")
	logBuf := newBuffer()
	base := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	setup(t, WithLogger(base), WithErrorWriter(newBuffer()))
	lines := logBuf.lines("abc")
	if len(lines) != 1 {
		t.Fatalf("%d lines about the bad value, want 1:\n%s", len(lines), logBuf.String())
	}
	if n := strings.Count(lines[0], "component="); n != 1 {
		t.Errorf("%d components in %q, want 1", n, lines[0])
	}
}
