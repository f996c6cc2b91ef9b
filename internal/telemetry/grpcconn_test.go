package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/connectivity"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// TestGRPCSignalsShareOneConnection: traces and metrics to the same
// OTLP/gRPC collector arrive over one connection, opened by Setup before
// anything is exported.
func TestGRPCSignalsShareOneConnection(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewGRPC(t)
	r.Setenv(t)
	errBuf := newBuffer()
	s := setup(t, WithErrorWriter(errBuf))

	// Connected early: no span or metric exists yet.
	r.WaitConnections(t, 1, waitFor)

	ctx := context.Background()
	_, span := s.TracerProvider.Tracer("t").Start(ctx, "shared")
	span.End()
	ctr, err := s.MeterProvider.Meter("t").Int64Counter("shared.count")
	if err != nil {
		t.Fatal(err)
	}
	ctr.Add(ctx, 1)
	r.WaitSpans(t, func(s []otlptest.Span) bool { _, ok := spanNamed(s, "shared"); return ok }, waitFor)
	r.WaitMetrics(t, func(ms []otlptest.Metric) bool { _, ok := metricNamed(ms, "shared.count"); return ok }, waitFor)
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := r.Connections(); n != 1 {
		t.Errorf("the receiver accepted %d connections, want 1 for both signals", n)
	}
	if got := errBuf.String(); got != "" {
		t.Errorf("error writer got %q", got)
	}
}

// TestGRPCSeparateConnectionsWhenSettingsDiffer: per-signal endpoints that
// name different collectors get a connection each, and each signal
// arrives at its own.
func TestGRPCSeparateConnectionsWhenSettingsDiffer(t *testing.T) {
	cleanEnv(t)
	traces, metrics := otlptest.NewGRPC(t), otlptest.NewGRPC(t)
	setenv(t,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+traces.Endpoint(),
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+metrics.Endpoint(),
		"OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_METRIC_EXPORT_INTERVAL=100",
	)
	s := setup(t, WithErrorWriter(newBuffer()))
	ctx := context.Background()
	_, span := s.TracerProvider.Tracer("t").Start(ctx, "apart")
	span.End()
	ctr, _ := s.MeterProvider.Meter("t").Int64Counter("apart.count")
	ctr.Add(ctx, 1)
	traces.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) > 0 }, waitFor)
	metrics.WaitMetrics(t, func(ms []otlptest.Metric) bool { _, ok := metricNamed(ms, "apart.count"); return ok }, waitFor)
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if len(traces.Metrics()) != 0 || len(metrics.Spans()) != 0 {
		t.Errorf("signals crossed: %d metrics at the trace collector, %d spans at the metric collector",
			len(traces.Metrics()), len(metrics.Spans()))
	}
}

// TestShutdownGivesUpOnRefusedGRPCCollector: when the OTLP/gRPC collector
// refused every connection, Shutdown abandons the exports at once instead
// of retrying until the shutdown timeout, for both signals; the reports
// say why. A blackholed collector (it accepts and never answers) is not
// given up on: it still gets the whole timeout. So too when the
// connection was deferred (WithDeferredWarmUp) and never warmed up: the
// exports at Shutdown open it.
func TestShutdownGivesUpOnRefusedGRPCCollector(t *testing.T) {
	const timeout = 20 * time.Second
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused/deferred=%t", deferred), func(t *testing.T) {
			testGivesUpOnRefused(t, timeout, deferred)
		})
	}
	t.Run("blackhole", func(t *testing.T) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		pointAt(t, "grpc", otlptest.Blackhole(t))
		s, err := Setup(context.Background(), WithErrorWriter(newBuffer()), WithShutdownTimeout(shutdownTimeout))
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "held")
		span.End()
		err = s.Shutdown(context.Background())
		if !errors.Is(err, errShutdownTimeout) || errors.Is(err, errCollectorRefused) {
			t.Errorf("Shutdown error = %v, want it to wrap %q and not %q", err, errShutdownTimeout, errCollectorRefused)
		}
	})
}

// testGivesUpOnRefused is the refused case of
// TestShutdownGivesUpOnRefusedGRPCCollector.
func testGivesUpOnRefused(t *testing.T, timeout time.Duration, deferred bool) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	pointAt(t, "grpc", otlptest.Refused(t))
	errBuf := newBuffer()
	opts := []Option{WithErrorWriter(errBuf), WithShutdownTimeout(timeout)}
	if deferred {
		opts = append(opts, WithDeferredWarmUp())
	}
	s, err := Setup(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx := context.Background()
	_, span := s.TracerProvider.Tracer("t").Start(ctx, "lost")
	span.End()
	ctr, _ := s.MeterProvider.Meter("t").Int64Counter("lost.count")
	ctr.Add(ctx, 1)

	start := time.Now()
	err = s.Shutdown(ctx)
	elapsed := time.Since(start)
	t.Logf("Shutdown took %v: %v", elapsed, err)
	if !errors.Is(err, errCollectorRefused) || errors.Is(err, errShutdownTimeout) {
		t.Errorf("Shutdown error = %v, want it to wrap %q and not %q", err, errCollectorRefused, errShutdownTimeout)
	}
	// A generous bound: the test is that the cause above is the
	// refusal, not the timeout.
	if elapsed > timeout/2 {
		t.Errorf("Shutdown took %v with a %v timeout", elapsed, timeout)
	}
	for _, sig := range []string{"trace", "metric"} {
		if l := errBuf.lines("otel-qrun: " + sig + " export failed: "); len(l) != 1 || !strings.Contains(l[0], errCollectorRefused.Error()) {
			t.Errorf("%s report = %q, want one that names the refusal; all:\n%s", sig, l, errBuf)
		}
	}
}

func TestGRPCSettings(t *testing.T) {
	const p = "OTEL_EXPORTER_OTLP_"
	tests := []struct {
		name string
		env  []string
		want grpcSettings
		ok   bool
	}{
		{"default: plaintext, as the specification says", nil, grpcSettings{target: "localhost:4317", insecure: true}, true},
		{"http endpoint", []string{p + "ENDPOINT=http://collector:4317"}, grpcSettings{target: "collector:4317", insecure: true}, true},
		{"https endpoint", []string{p + "ENDPOINT=https://collector:4317/"}, grpcSettings{target: "collector:4317"}, true},
		{"signal endpoint wins", []string{p + "ENDPOINT=http://a:1", p + "TRACES_ENDPOINT=https://b:2"}, grpcSettings{target: "b:2"}, true},
		{"other signal ignored", []string{p + "ENDPOINT=http://a:1", p + "METRICS_ENDPOINT=https://b:2"}, grpcSettings{target: "a:1", insecure: true}, true},
		{"insecure after scheme", []string{p + "ENDPOINT=https://a:1", p + "INSECURE=TRUE"}, grpcSettings{target: "a:1", insecure: true}, true},
		{"signal insecure false", []string{p + "ENDPOINT=http://a:1", p + "TRACES_INSECURE=false"}, grpcSettings{target: "a:1"}, true},
		{"gzip", []string{p + "COMPRESSION=gzip"}, grpcSettings{target: "localhost:4317", insecure: true, gzip: true}, true},
		{"signal compression none", []string{p + "COMPRESSION=gzip", p + "TRACES_COMPRESSION=none"}, grpcSettings{target: "localhost:4317", insecure: true}, true},
		{"blank values ignored", []string{p + "ENDPOINT=  ", p + "INSECURE= "}, grpcSettings{target: "localhost:4317", insecure: true}, true},
		{"default asked to be secure", []string{p + "INSECURE=false"}, grpcSettings{target: "localhost:4317"}, true},
		{"default, the signal asked to be secure", []string{p + "TRACES_INSECURE=false"}, grpcSettings{target: "localhost:4317"}, true},
		{"the other signal's endpoint leaves the default", []string{p + "METRICS_ENDPOINT=https://m:1"}, grpcSettings{target: "localhost:4317", insecure: true}, true},
		// Left to the exporter's own connection.
		{"no scheme", []string{p + "ENDPOINT=collector:4317"}, grpcSettings{}, false},
		{"unix socket", []string{p + "ENDPOINT=unix:///run/otel.sock"}, grpcSettings{}, false},
		{"unparsable", []string{p + "ENDPOINT=http://[::1"}, grpcSettings{}, false},
		{"no host", []string{p + "ENDPOINT=http://"}, grpcSettings{}, false},
		{"certificate", []string{p + "CERTIFICATE=/ca.pem"}, grpcSettings{}, false},
		{"signal client key", []string{p + "TRACES_CLIENT_KEY=/key.pem"}, grpcSettings{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := grpcSettingsFor(mapEnv(tt.env), "TRACES")
			if got != tt.want || ok != tt.ok {
				t.Errorf("grpcSettingsFor = %+v, %t; want %+v, %t", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// plaintextDefault: the default collector is reached without TLS only
// while no variable of the signal, or shared, says anything about where or
// how securely to send.
func TestPlaintextDefault(t *testing.T) {
	const p = "OTEL_EXPORTER_OTLP_"
	for _, tt := range []struct {
		env  []string
		want bool
	}{
		{nil, true},
		{[]string{p + "PROTOCOL=grpc", p + "COMPRESSION=gzip", p + "HEADERS=a=b", p + "TIMEOUT=1000"}, true},
		{[]string{p + "ENDPOINT= "}, true},
		{[]string{p + "METRICS_ENDPOINT=http://m:1", p + "METRICS_INSECURE=true"}, true},
		{[]string{p + "ENDPOINT=http://c:4318"}, false},
		{[]string{p + "TRACES_ENDPOINT=http://c:4318/v1/traces"}, false},
		{[]string{p + "INSECURE=false"}, false},
		{[]string{p + "TRACES_INSECURE=true"}, false},
		{[]string{p + "CERTIFICATE=/ca.pem"}, false},
		{[]string{p + "TRACES_CLIENT_CERTIFICATE=/c.pem"}, false},
		{[]string{p + "CLIENT_KEY=/k.pem"}, false},
	} {
		if got := plaintextDefault(mapEnv(tt.env), "TRACES"); got != tt.want {
			t.Errorf("plaintextDefault(%q) = %t, want %t", tt.env, got, tt.want)
		}
	}
}

// FuzzGRPCSettings: any endpoint gives either settings with a target, or
// leaves the connection to the exporter; never a panic.
func FuzzGRPCSettings(f *testing.F) {
	for _, s := range []string{"http://a:1", "https://[::1]:4317/x", "collector:4317", "unix:///s", "http://", "%zz", "http://a:1/%2f"} {
		f.Add(s, "true")
	}
	f.Fuzz(func(t *testing.T, endpoint, insecure string) {
		s, ok := grpcSettingsFor(mapEnv([]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
			"OTEL_EXPORTER_OTLP_INSECURE=" + insecure,
		}), "METRICS")
		if ok && s.target == "" {
			t.Errorf("endpoint %q: settings without a target", endpoint)
		}
		if !ok && s != (grpcSettings{}) {
			t.Errorf("endpoint %q: settings %+v though not ok", endpoint, s)
		}
	})
}

// mapEnv is a getenv over "KEY=value" entries.
func mapEnv(entries []string) func(string) string {
	env := parseEnviron(entries)
	return func(k string) string { return env[k] }
}

// TestEarlyConnect: by default Setup starts connecting in the background,
// and the collector gets a connection before any export. With
// WithoutEarlyConnect, and with WithDeferredWarmUp until WarmUp, the
// connection stays idle; then WarmUp, or else the first export, connects.
// A WarmUp after Shutdown does nothing.
func TestEarlyConnect(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opt    Option
		idle   bool // after Setup
		warmUp bool // call WarmUp, which connects unless lazy
	}{
		{"default", nil, false, false},
		{"without early connect", WithoutEarlyConnect(), true, false},
		{"deferred, warmed up", WithDeferredWarmUp(), true, true},
		{"deferred, never warmed up", WithDeferredWarmUp(), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			r := otlptest.NewGRPC(t)
			r.Setenv(t)
			s := setup(t, WithErrorWriter(newBuffer()), WithoutMetrics(), tt.opt)
			if len(s.conns.conns) != 1 {
				t.Fatalf("%d connections, want 1", len(s.conns.conns))
			}
			if tt.idle {
				if state := s.conns.conns[0].conn.GetState(); state != connectivity.Idle {
					t.Errorf("connection %s after Setup, want IDLE", state)
				}
			}
			if tt.warmUp {
				s.WarmUp()
				s.WarmUp() // once is enough
			}
			if !tt.idle || tt.warmUp {
				r.WaitConnections(t, 1, waitFor)
			}
			_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "first")
			span.End()
			if err := s.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			s.WarmUp() // after Shutdown: nothing
			r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) == 1 }, waitFor)
			if n := r.Connections(); n != 1 {
				t.Errorf("%d connections to the collector, want 1", n)
			}
		})
	}
}

// FlushTraces exports the spans ended so far before Shutdown, and
// Shutdown exports them no second time.
func TestFlushTraces(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewGRPC(t)
	r.Setenv(t)
	s := setup(t, WithErrorWriter(newBuffer()), WithoutMetrics())
	_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "flushed")
	span.End()
	s.FlushTraces(context.Background())
	r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) == 1 }, waitFor)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := len(r.Spans()); n != 1 {
		t.Errorf("%d spans after Shutdown, want the one flushed", n)
	}
	var disabled *SDK
	disabled.FlushTraces(context.Background()) // no SDK: nothing to do
}

// With WithExitAfterShutdown, Shutdown leaves the connection's close to a
// goroutine (the process exits right after): what was ended before it is
// exported all the same, spans and the final metrics, and the close does
// end (no goroutine of the SDK is left once it has).
func TestExitAfterShutdown(t *testing.T) {
	cleanEnv(t)
	r := otlptest.NewGRPC(t)
	r.Setenv(t)
	before := goleak.IgnoreCurrent()
	s := setup(t, WithExitAfterShutdown())
	ctx := context.Background()
	_, span := s.TracerProvider.Tracer("t").Start(ctx, "last")
	span.End()
	ctr, err := s.MeterProvider.Meter("t").Int64Counter("last.count")
	if err != nil {
		t.Fatal(err)
	}
	ctr.Add(ctx, 1)
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, ok := spanNamed(r.Spans(), "last"); !ok {
		t.Error("the span ended before Shutdown was not exported when it returned")
	}
	if _, ok := metricNamed(r.Metrics(), "last.count"); !ok {
		t.Error("the final metrics were not exported when Shutdown returned")
	}
	verifyNoSDKGoroutines(t, before)
}
