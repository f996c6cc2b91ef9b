package telemetry

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// brokenCollectors are collectors that refuse connections or accept them
// and never answer, for both protocols.
var brokenCollectors = []struct {
	name     string
	protocol string
	endpoint func(testing.TB) string
}{
	{"grpc/refused", "grpc", otlptest.Refused},
	{"grpc/blackhole", "grpc", otlptest.Blackhole},
	{"http/refused", "http/protobuf", otlptest.Refused},
	{"http/blackhole", "http/protobuf", otlptest.Blackhole},
}

// generous bounds: these tests prove "does not block", not speed.
const (
	shutdownTimeout = 500 * time.Millisecond
	shutdownBound   = 3 * time.Second
	endBound        = time.Second
)

func pointAt(t *testing.T, protocol, endpoint string) {
	t.Helper()
	cleanEnv(t)
	setenv(t,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL="+protocol,
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=otlp",
	)
}

// verifyNoSDKGoroutines checks that the SDK left no goroutine behind. Idle
// keep-alive connections of the OTLP/HTTP exporters' shared transport are
// not the SDK's: they end when the peer closes them (the strict check at the
// end of each test, after the collector is closed, covers them).
func verifyNoSDKGoroutines(t *testing.T, before goleak.Option) {
	t.Helper()
	goleak.VerifyNone(t, before,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

// TestFailOpenManyBatches: many failed exports are reported once per signal,
// span.End never blocks, and Shutdown is bounded.
func TestFailOpenManyBatches(t *testing.T) {
	for _, bc := range brokenCollectors {
		t.Run(bc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
			pointAt(t, bc.protocol, bc.endpoint(t))
			before := goleak.IgnoreCurrent()
			// Short exporter timeouts, so that exports fail quickly and
			// often, in many small batches.
			// (The OTLP HTTP exporters apply their timeout per attempt and
			// retry for a minute; the processor and reader timeouts end
			// an export sooner.)
			setenv(t, "OTEL_EXPORTER_OTLP_TIMEOUT=100",
				"OTEL_BSP_SCHEDULE_DELAY=10", "OTEL_BSP_EXPORT_TIMEOUT=200", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=10",
				"OTEL_METRIC_EXPORT_INTERVAL=50", "OTEL_METRIC_EXPORT_TIMEOUT=200")
			errBuf := newBuffer()
			logBuf := newBuffer() // every export error, at debug level
			logger := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, err := Setup(context.Background(), WithErrorWriter(errBuf), WithLogger(logger),
				WithShutdownTimeout(shutdownTimeout))
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

			tracer := s.TracerProvider.Tracer("t")
			ctr, _ := s.MeterProvider.Meter("t").Int64Counter("work.done")
			ctx := context.Background()
			failures := func(sig string) int {
				return len(logBuf.lines("msg=\"telemetry error\" component=telemetry signal=" + sig))
			}
			var slowest time.Duration
			deadline := time.After(30 * time.Second)
			for failures("traces") < 5 || failures("metrics") < 5 {
				for range 20 {
					start := time.Now()
					_, span := tracer.Start(ctx, "work")
					span.End()
					ctr.Add(ctx, 1)
					slowest = max(slowest, time.Since(start))
				}
				select {
				case <-logBuf.written:
				case <-deadline:
					t.Fatalf("export failures not seen; log:\n%s", logBuf.String())
				}
			}
			if slowest > endBound {
				t.Errorf("span.End/counter.Add blocked for %v", slowest)
			}

			start := time.Now()
			err = s.Shutdown(context.Background())
			elapsed := time.Since(start)
			t.Logf("Shutdown took %v: %v", elapsed, err)
			if elapsed > shutdownBound {
				t.Errorf("Shutdown took %v with a %v timeout", elapsed, shutdownTimeout)
			}
			if err == nil {
				t.Error("Shutdown returned nil after failed exports")
			}

			verifyNoSDKGoroutines(t, before) // every report is written by now
			got := errBuf.String()
			if n := len(errBuf.lines("otel-qrun: trace export failed: ")); n != 1 {
				t.Errorf("%d trace export reports, want 1:\n%s", n, got)
			}
			if n := len(errBuf.lines("otel-qrun: metric export failed: ")); n != 1 {
				t.Errorf("%d metric export reports, want 1:\n%s", n, got)
			}
			if n := strings.Count(got, "\n"); n != 2 {
				t.Errorf("%d lines on the error writer, want 2:\n%s", n, got)
			}
			for _, l := range errBuf.lines("export failed") {
				if !strings.HasSuffix(l, "; further export errors are not reported\n") {
					t.Errorf("report line %q", l)
				}
			}
		})
	}
}

// TestShutdownBoundedWithDefaultTimeouts: with the exporters' own timeouts
// (10 s per export, retries for a minute), Shutdown still returns within its
// own timeout, even with a context without deadline, and no goroutine stays
// behind.
func TestShutdownBoundedWithDefaultTimeouts(t *testing.T) {
	for _, bc := range brokenCollectors {
		t.Run(bc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
			pointAt(t, bc.protocol, bc.endpoint(t))
			before := goleak.IgnoreCurrent()
			errBuf := newBuffer()
			s, err := Setup(context.Background(), WithErrorWriter(errBuf), WithShutdownTimeout(shutdownTimeout))
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
			ctx := context.Background()
			tracer := s.TracerProvider.Tracer("t")
			ctr, _ := s.MeterProvider.Meter("t").Int64Counter("work.done")
			start := time.Now()
			for range 5000 { // more than the queue holds: extra spans are dropped, not waited for
				_, span := tracer.Start(ctx, "work")
				span.End()
				ctr.Add(ctx, 1)
			}
			if d := time.Since(start); d > 5*endBound {
				t.Errorf("5000 spans took %v", d)
			}

			start = time.Now()
			err = s.Shutdown(ctx)
			elapsed := time.Since(start)
			t.Logf("Shutdown took %v: %v", elapsed, err)
			if elapsed > shutdownBound {
				t.Errorf("Shutdown took %v with a %v timeout", elapsed, shutdownTimeout)
			}
			if err == nil {
				t.Error("Shutdown returned nil though nothing could be exported")
			}
			// Idempotent, and at once.
			start = time.Now()
			if err2 := s.Shutdown(ctx); err2 != err || time.Since(start) > endBound {
				t.Errorf("second Shutdown = %v after %v, want the first result at once", err2, time.Since(start))
			}
			// A provider that missed the deadline (on a starved CPU) ends
			// soon after; its report comes then.
			verifyNoSDKGoroutines(t, before)
			got := errBuf.String()
			if len(errBuf.lines("otel-qrun: trace export failed: ")) != 1 || len(errBuf.lines("otel-qrun: metric export failed: ")) != 1 ||
				strings.Count(got, "\n") != 2 {
				t.Errorf("want one report per signal, got:\n%s", got)
			}
		})
	}
}

// TestShutdownHonoursCallerContext: a caller's earlier deadline wins over
// the shutdown timeout.
func TestShutdownHonoursCallerContext(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	pointAt(t, "grpc", otlptest.Blackhole(t))
	s, err := Setup(context.Background(), WithErrorWriter(newBuffer()), WithShutdownTimeout(time.Hour))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	_, span := s.TracerProvider.Tracer("t").Start(context.Background(), "x")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Shutdown(ctx)
	if d := time.Since(start); d > shutdownBound {
		t.Errorf("Shutdown took %v with a 200ms context and a 1h timeout", d)
	}
	if err == nil {
		t.Error("Shutdown returned nil")
	}
}
