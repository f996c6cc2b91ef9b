package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// recordSample records a parent span, a failed CONSUMER child with
// attributes, a counter and a histogram, and returns the error of s's
// shutdown.
func recordSample(t *testing.T, s *SDK) error {
	t.Helper()
	tracer := s.TracerProvider.Tracer("t")
	ctx, parent := tracer.Start(context.Background(), "console-span")
	_, child := tracer.Start(ctx, "process emails", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.message.id", "mail 42"), attribute.Int("qrun.task.attempt", 2)))
	child.SetStatus(codes.Error, "boom")
	child.End()
	parent.End()
	m := s.MeterProvider.Meter("t")
	ctr, _ := m.Int64Counter("console.metric")
	ctr.Add(ctx, 5, metric.WithAttributes(attribute.String("reason", "initial")))
	h, _ := m.Float64Histogram("console.duration", metric.WithUnit("s"))
	h.Record(ctx, 0.25)
	h.Record(ctx, 0.75)
	return s.Shutdown(context.Background())
}

func TestConsoleTextFormat(t *testing.T) {
	cleanEnv(t)
	setenv(t, "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console", EnvConsoleFormat+"=text")
	errBuf := newBuffer()
	if err := recordSample(t, setup(t, WithErrorWriter(errBuf))); err != nil {
		t.Errorf("Shutdown: %v", err)
	}

	got := errBuf.String()
	hex := func(n int) string { return fmt.Sprintf("[0-9a-f]{%d}", n) }
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^span "process emails" consumer [0-9.]+[µnm]?s trace=(` + hex(32) + `) span=` + hex(16) +
			` parent=(` + hex(16) + `) status=error error="boom" messaging.message.id="mail 42" qrun.task.attempt=2$`),
		regexp.MustCompile(`(?m)^span "console-span" internal [0-9.]+[µnm]?s trace=(` + hex(32) + `) span=(` + hex(16) +
			`) parent=none status=unset$`),
		regexp.MustCompile(`(?m)^metric console.metric: 5 \{reason=initial\}$`),
		regexp.MustCompile(`(?m)^metric console.duration: count=2 sum=1s min=0.25s max=0.75s$`),
	}
	var m [][]string
	for _, re := range want {
		sub := re.FindStringSubmatch(got)
		if sub == nil {
			t.Errorf("no line matches %s in:\n%s", re, got)
		}
		m = append(m, sub)
	}
	if m[0] != nil && m[1] != nil && (m[0][1] != m[1][1] || m[0][2] != m[1][2]) {
		t.Errorf("the child's trace and parent ids are not the parent span's:\n%s", got)
	}
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("%d lines, want 4 (two spans, two metrics):\n%s", n, got)
	}
}

// TestConsoleRedirectedStaysJSON: written to a pipe or a buffer, the
// console exporters write the Go SDK's JSON objects, as before the text
// format existed; OTEL_QRUN_CONSOLE_FORMAT=json forces them anywhere.
func TestConsoleRedirectedStaysJSON(t *testing.T) {
	for _, tt := range []struct{ name, format string }{
		{"pipe, auto", ""},
		{"pipe, json", "json"},
		{"pipe, AUTO", "AUTO"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			setenv(t, "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console", EnvConsoleFormat+"="+tt.format)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			read := make(chan []byte, 1)
			go func() {
				var all []byte
				buf := make([]byte, 4096)
				for {
					n, err := r.Read(buf)
					all = append(all, buf[:n]...)
					if err != nil {
						read <- all
						return
					}
				}
			}()
			if err := recordSample(t, setup(t, WithErrorWriter(w))); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			w.Close()
			out := string(<-read)

			var spans, metrics int
			for l := range strings.Lines(out) {
				var obj map[string]any
				if err := json.Unmarshal([]byte(l), &obj); err != nil {
					t.Fatalf("line is not a JSON object: %q", l)
				}
				if _, ok := obj["SpanContext"]; ok {
					spans++
				}
				if _, ok := obj["ScopeMetrics"]; ok {
					metrics++
				}
			}
			if spans != 2 || metrics != 1 {
				t.Errorf("%d span objects and %d metrics objects, want 2 and 1:\n%s", spans, metrics, out)
			}
		})
	}
}

// defaultCollectorFree skips the test when something listens on the
// default collector's port of this machine.
func defaultCollectorFree(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "localhost:4318", 5*time.Second)
	if err == nil {
		c.Close()
		t.Skip("something listens on localhost:4318: the refused default collector cannot be tested here")
	}
}

// TestUnconfiguredRefusedCollectorHints: with no OTEL_* variable at all, the
// refused default collector is one hint line, for both signals, and no
// error; a collector the user configured that refuses is reported as an
// error, once per signal.
func TestUnconfiguredRefusedCollectorHints(t *testing.T) {
	t.Run("unconfigured", func(t *testing.T) {
		cleanEnv(t)
		defaultCollectorFree(t)
		errBuf := newBuffer()
		err := recordSample(t, setup(t, WithErrorWriter(errBuf)))
		if err == nil {
			t.Error("Shutdown returned nil: telemetry was lost, the caller may log it")
		} else if !strings.Contains(err.Error(), `"http://localhost:4318/v1/traces"`) {
			// The specification's default, in plaintext, as the
			// workers' SDKs send (plaintextDefault).
			t.Errorf("Shutdown error %q, want the export to have gone to http://localhost:4318/v1/traces", err)
		}
		got := errBuf.String()
		want := "otel-qrun: hint: no OpenTelemetry collector at localhost:4318 (none configured), nothing exported; set OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none to see spans, or OTEL_SDK_DISABLED=true to turn telemetry off\n"
		if got != want {
			t.Errorf("error writer:\n%s\nwant only the hint:\n%s", got, want)
		}
	})
	// A worker under the launcher leaves the hint to the launcher.
	t.Run("without the hint", func(t *testing.T) {
		cleanEnv(t)
		defaultCollectorFree(t)
		errBuf := newBuffer()
		if err := recordSample(t, setup(t, WithErrorWriter(errBuf), WithoutCollectorHint())); err == nil {
			t.Error("Shutdown returned nil: telemetry was lost, the caller may log it")
		}
		if got := errBuf.String(); got != "" {
			t.Errorf("error writer %q, want nothing", got)
		}
	})
	// What the hint says to do leaves nothing refused; spans to the
	// console alone leave metrics to the default collector, which is
	// still no error of the user's.
	t.Run("as the hint says", func(t *testing.T) {
		cleanEnv(t)
		defaultCollectorFree(t)
		setenv(t, "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=none")
		errBuf := newBuffer()
		_ = recordSample(t, setup(t, WithErrorWriter(errBuf)))
		if lines := errBuf.lines("otel-qrun:"); len(lines) != 0 {
			t.Errorf("following the hint still prints %q", lines)
		}
	})
	t.Run("spans to the console", func(t *testing.T) {
		cleanEnv(t)
		defaultCollectorFree(t)
		setenv(t, "OTEL_TRACES_EXPORTER=console")
		errBuf := newBuffer()
		_ = recordSample(t, setup(t, WithErrorWriter(errBuf)))
		want := []string{"otel-qrun: hint: no OpenTelemetry collector at localhost:4318 (none configured), metrics not exported; set OTEL_METRICS_EXPORTER=console to see them, or none\n"}
		if got := errBuf.lines("otel-qrun:"); !slices.Equal(got, want) {
			t.Errorf("lines %q, want %q", got, want)
		}
	})
	for _, tt := range []struct{ name, variable string }{
		{"endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"traces endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
	} {
		t.Run("configured "+tt.name, func(t *testing.T) {
			cleanEnv(t)
			endpoint := otlptest.Refused(t)
			if tt.variable == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
				endpoint += "/v1/traces"
			}
			setenv(t, tt.variable+"="+endpoint, "OTEL_METRICS_EXPORTER=none")
			errBuf := newBuffer()
			s := setup(t, WithErrorWriter(errBuf))
			_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "refused")
			span.End()
			if err := s.Shutdown(context.Background()); err == nil {
				t.Error("Shutdown returned nil after a refused export")
			}
			got := errBuf.String()
			if n := len(errBuf.lines("otel-qrun: trace export failed: ")); n != 1 || strings.Count(got, "\n") != 1 ||
				!strings.Contains(got, "connection refused") {
				t.Errorf("want exactly one trace export error naming the refused connection, got:\n%s", got)
			}
		})
	}
}

func TestUnaskedSignals(t *testing.T) {
	for _, tt := range []struct {
		env             []string
		traces, metrics bool
	}{
		{nil, true, true},
		{[]string{"OTEL_SERVICE_NAME=x", "OTEL_EXPORTER_OTLP_HEADERS=a=b"}, true, true},
		{[]string{"OTEL_TRACES_EXPORTER= "}, true, true},
		{[]string{"OTEL_TRACES_EXPORTER=otlp"}, false, true},
		{[]string{"OTEL_TRACES_EXPORTER=console"}, false, true},
		{[]string{"OTEL_METRICS_EXPORTER=otlp"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, false, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318"}, false, false},
		{[]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://c:4318/v1/metrics"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"}, false, true},
	} {
		got := unaskedSignals(parseEnviron(tt.env))
		if got[sigTraces] != tt.traces || got[sigMetrics] != tt.metrics || got[sigOther] {
			t.Errorf("unaskedSignals(%q) = traces %t, metrics %t; want %t, %t", tt.env, got[sigTraces], got[sigMetrics], tt.traces, tt.metrics)
		}
	}
}

func TestRoundDuration(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{1234 * time.Nanosecond, time.Microsecond},
		{1234567 * time.Nanosecond, 1230 * time.Microsecond},
		{12345678 * time.Nanosecond, 12300 * time.Microsecond},
		{123456789 * time.Nanosecond, 123 * time.Millisecond},
		{1234567890 * time.Nanosecond, 1230 * time.Millisecond},
		{123456789012 * time.Nanosecond, 123 * time.Second},
	} {
		if got := roundDuration(tt.in); got != tt.want {
			t.Errorf("roundDuration(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
