package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// TestSecretsNeverExported puts secrets in the environment and in what the
// launcher gives its spans and metrics, and checks that neither the spans,
// metrics and resource received over the wire nor the error writer hold
// any of them.
func TestSecretsNeverExported(t *testing.T) {
	for _, p := range receivers {
		t.Run(p.name, func(t *testing.T) {
			cleanEnv(t)
			recv := p.new(t)
			recv.Setenv(t)
			setenv(t,
				"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%ZZSECRET123",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-api-key=TRACEKEY456",
				"OTEL_RESOURCE_ATTRIBUTES=deploy.token=RESTOKEN789,note=uses RESTOKEN789 and APPTOK-42",
				"MY_APP_TOKEN=APPTOK-42",
				"REDIS_URL=redis://u:REDISPW-77@redis:6379/0",
			)
			errW := newBuffer()
			s := setup(t, WithErrorWriter(errW))
			_, span := s.TracerProvider.Tracer("test").Start(context.Background(), "process APPTOK-42",
				trace.WithAttributes(
					attribute.String("messaging.destination.name", "redis://u:REDISPW-77@redis:6379/0"),
					attribute.StringSlice("process.command_args", []string{"--token", "APPTOK-42"}),
					attribute.String("db.password", "anything"),
				))
			span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message", "auth failed for APPTOK-42")))
			span.SetStatus(codes.Error, "Bearer%ZZSECRET123 rejected")
			span.End()
			counter, err := s.MeterProvider.Meter("test").Int64Counter("qrun.worker.starts")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 1, metric.WithAttributes(
				attribute.String("messaging.destination.name", "cluster-APPTOK-42"), attribute.String("api_key", "x")))
			spans := recv.WaitSpans(t, func(sp []otlptest.Span) bool { return len(sp) > 0 }, 60*time.Second)
			metrics := recv.WaitMetrics(t, func(m []otlptest.Metric) bool {
				for _, mm := range m {
					if mm.Name == "qrun.worker.starts" {
						return true
					}
				}
				return false
			}, 60*time.Second)
			if err := s.Shutdown(context.Background()); err != nil {
				t.Logf("shutdown: %v", err)
			}
			out := otlptest.DumpSpans(spans) + fmt.Sprint(spans) + otlptest.DumpMetrics(metrics) + fmt.Sprint(metrics) + errW.String()
			for _, secret := range []string{"ZZSECRET123", "TRACEKEY456", "RESTOKEN789", "APPTOK-42", "REDISPW-77", "anything"} {
				if strings.Contains(out, secret) {
					t.Errorf("%q was exported or printed:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, "redis://[REDACTED]@redis:6379/0") || !strings.Contains(out, "process [REDACTED]") ||
				!strings.Contains(out, "cluster-[REDACTED]") {
				t.Errorf("the span lost more than its secrets:\n%s", out)
			}
		})
	}
}

// TestTLSFilesReadSafely checks that a TLS file the SDK would read must be
// a regular file: a FIFO would block the start forever.
func TestTLSFilesReadSafely(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"} {
		for _, path := range []string{fifo, dir, "/dev/zero"} {
			t.Run(name+"="+path, func(t *testing.T) {
				cleanEnv(t)
				setenv(t, name+"="+path)
				_, err := Setup(context.Background())
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("Setup = %v, want an ErrConfig naming %s", err, name)
				}
			})
		}
	}
	cleanEnv(t)
	setenv(t, "OTEL_EXPORTER_OTLP_CERTIFICATE="+filepath.Join(dir, "missing.pem"), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	if _, err := os.Stat(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("missing.pem exists")
	}
	setup(t) // a missing file is left to the SDK, as before
}
