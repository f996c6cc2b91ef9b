package cmd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

const (
	inheritedTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	inheritedSpan  = "00f067aa0ba902b7"
	inheritedTP    = "00-" + inheritedTrace + "-" + inheritedSpan + "-01"
)

// receivers runs f against a gRPC and an HTTP OTLP receiver.
func receivers(t *testing.T, f func(t *testing.T, r *otlptest.Receiver)) {
	t.Run("grpc", func(t *testing.T) { f(t, otlptest.NewGRPC(t)) })
	t.Run("http", func(t *testing.T) { f(t, otlptest.NewHTTP(t)) })
}

func spansNamed(spans []otlptest.Span, name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// lastSum returns the latest value of a sum metric's point whose attribute
// key has value want (or of its only point when key is empty).
func lastSum(metrics []otlptest.Metric, name, key, want string) (float64, bool) {
	v, ok := 0.0, false
	for _, m := range metrics {
		if m.Name != name {
			continue
		}
		for _, p := range m.Points {
			if key == "" || p.Attrs[key] == want {
				v, ok = p.Value, true
			}
		}
	}
	return v, ok
}

func TestWorkersContinueTheTraceOverTheWire(t *testing.T) {
	t.Parallel()
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		env := helperEnv("otelworker", append(r.Env(),
			"TRACEPARENT="+inheritedTP, "TRACESTATE=vendor=x", "BAGGAGE=tenant=acme",
			"OTEL_SERVICE_NAME=emails", "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test")...)
		res := runQrun(t, env, "--workers", "2", os.Args[0])
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		launcherName := "run " + baseName(os.Args[0])
		spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
			return len(spansNamed(s, launcherName)) == 2 && len(spansNamed(s, "work")) == 2
		}, 20*time.Second)

		starts := map[string]otlptest.Span{}
		for _, s := range spansNamed(spans, launcherName) {
			if s.TraceID != inheritedTrace || s.ParentSpanID != inheritedSpan || s.Kind != "internal" {
				t.Errorf("launcher span %s: trace %s parent %s kind %s; want a child of the inherited TRACEPARENT",
					s.SpanID, s.TraceID, s.ParentSpanID, s.Kind)
			}
			if s.Attrs["qrun.worker.start.reason"] != "initial" || s.Attrs["process.pid"] == nil ||
				s.Attrs["process.executable.name"] != baseName(os.Args[0]) || s.Resource["service.name"] != "emails" {
				t.Errorf("launcher span attributes %v, resource %v", s.Attrs, s.Resource)
			}
			starts[s.SpanID] = s
		}
		instances := map[any]bool{}
		for _, w := range spansNamed(spans, "work") {
			parent, ok := starts[w.ParentSpanID]
			if !ok || w.TraceID != inheritedTrace {
				t.Errorf("worker span parent %s trace %s; want a launcher span of trace %s", w.ParentSpanID, w.TraceID, inheritedTrace)
				continue
			}
			delete(starts, w.ParentSpanID) // each worker has its own launcher span
			if fmt.Sprint(w.Resource["qrun.worker.index"]) != fmt.Sprint(parent.Attrs["qrun.worker.index"]) {
				t.Errorf("worker resource index %v under the launcher span of worker %v", w.Resource["qrun.worker.index"], parent.Attrs["qrun.worker.index"])
			}
			if !strings.Contains(w.TraceState, "vendor=x") || w.Attrs["baggage.tenant"] != "acme" {
				t.Errorf("worker span tracestate %q, baggage tenant %v; want vendor=x and acme", w.TraceState, w.Attrs["baggage.tenant"])
			}
			if w.Resource["service.name"] != "emails" || w.Resource["deployment.environment"] != "test" {
				t.Errorf("worker resource %v", w.Resource)
			}
			instances[w.Resource["service.instance.id"]] = true
		}
		if len(instances) != 2 || instances[nil] {
			t.Errorf("service.instance.id of the workers: %v, want two distinct values", instances)
		}

		metrics := r.WaitMetrics(t, func(m []otlptest.Metric) bool {
			v, ok := lastSum(m, "qrun.worker.exits", "outcome", "ok")
			return ok && v == 2
		}, 20*time.Second)
		if v, _ := lastSum(metrics, "qrun.worker.starts", "reason", "initial"); v != 2 {
			t.Errorf("qrun.worker.starts{reason=initial} = %v, want 2", v)
		}
		if v, ok := lastSum(metrics, "qrun.workers.active", "", ""); !ok || v != 0 {
			t.Errorf("qrun.workers.active = %v (%v), want 0 after the workers exited", v, ok)
		}
	})
}

func TestWorkerExitsAreCountedByOutcome(t *testing.T) {
	t.Parallel()
	r := otlptest.NewHTTP(t)
	// Worker 0 exits 0 long before worker 1 dies and the others are stopped.
	env := helperEnvWith("byindex", workertest.Params{ByIndex: []string{"exit", "selfkill"}, Signal: 10, Delay: 500 * time.Millisecond},
		r.Env()...)
	res := runQrun(t, env, "--workers", "2", os.Args[0])
	if res.code != 138 {
		t.Fatalf("exit %d, want 138: %s", res.code, res.stderr)
	}
	metrics := r.WaitMetrics(t, func(m []otlptest.Metric) bool {
		_, ok := lastSum(m, "qrun.worker.exits", "outcome", "signal")
		return ok
	}, 20*time.Second)
	for _, outcome := range []string{"ok", "signal"} {
		if v, _ := lastSum(metrics, "qrun.worker.exits", "outcome", outcome); v != 1 {
			t.Errorf("qrun.worker.exits{outcome=%s} = %v, want 1", outcome, v)
		}
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 2 }, 20*time.Second)
	errors := 0
	for _, s := range spans {
		if s.StatusCode == "error" {
			errors++
		}
	}
	if errors != 1 {
		t.Errorf("%d launcher spans with status error, want 1 (the killed worker)", errors)
	}
}

func TestDisabledSDKPassesTheCarrierThrough(t *testing.T) {
	t.Parallel()
	r := otlptest.NewGRPC(t)
	env := helperEnv("env", append(r.Env(), "OTEL_SDK_DISABLED=true", "TRACEPARENT="+inheritedTP, "TRACESTATE=vendor=x")...)
	res := runQrun(t, env, os.Args[0])
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	rec := records(t, res.stdout)[0]
	if rec.Env["TRACEPARENT"] != inheritedTP || rec.Env["TRACESTATE"] != "vendor=x" {
		t.Errorf("carrier changed: %q %q", rec.Env["TRACEPARENT"], rec.Env["TRACESTATE"])
	}
	if n := len(r.Spans()) + len(r.Metrics()); n != 0 {
		t.Errorf("%d items exported with OTEL_SDK_DISABLED=true", n)
	}
}

func TestInvalidInheritedTraceparentStartsANewTrace(t *testing.T) {
	t.Parallel()
	r := otlptest.NewHTTP(t)
	env := helperEnv("env", append(r.Env(), "TRACEPARENT=00-garbage-01")...)
	res := runQrun(t, env, os.Args[0])
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "TRACEPARENT") || !strings.Contains(res.stderr, "new trace") {
		t.Errorf("no warning about the malformed TRACEPARENT: %q", res.stderr)
	}
	tp := records(t, res.stdout)[0].Env["TRACEPARENT"]
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) == 1 }, 20*time.Second)
	if s := spans[0]; s.ParentSpanID != "" || tp != "00-"+s.TraceID+"-"+s.SpanID+"-01" {
		t.Errorf("worker TRACEPARENT %q, launcher span %+v; want a new root span's context", tp, s)
	}
}

func TestB3ThroughOTELPropagators(t *testing.T) {
	t.Parallel()
	env := helperEnv("env", "OTEL_PROPAGATORS=b3multi", "X_B3_TRACEID="+inheritedTrace, "X_B3_SPANID="+inheritedSpan, "X_B3_SAMPLED=1")
	res := runQrun(t, env, os.Args[0])
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	e := records(t, res.stdout)[0].Env
	if e["X_B3_TRACEID"] != inheritedTrace || e["X_B3_SPANID"] == inheritedSpan || len(e["X_B3_SPANID"]) != 16 {
		t.Errorf("b3 carrier %q %q; want the inherited trace and a new span", e["X_B3_TRACEID"], e["X_B3_SPANID"])
	}
}

func TestUnreachableCollectorNeverBlocksOrChangesTheStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, protocol string
		endpoint       func(testing.TB) string
	}{
		{"grpc refused", "grpc", otlptest.Refused},
		{"grpc blackhole", "grpc", otlptest.Blackhole},
		{"http refused", "http/protobuf", otlptest.Refused},
		{"http blackhole", "http/protobuf", otlptest.Blackhole},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := helperEnvWith("exit", workertest.Params{Exit: 3}, "OTEL_TRACES_EXPORTER=otlp", "OTEL_METRICS_EXPORTER=otlp",
				"OTEL_EXPORTER_OTLP_ENDPOINT="+tt.endpoint(t), "OTEL_EXPORTER_OTLP_PROTOCOL="+tt.protocol,
				"OTEL_EXPORTER_OTLP_INSECURE=true")
			start := time.Now()
			res := runQrun(t, env, "--shutdown-timeout", "1", os.Args[0])
			elapsed := time.Since(start)
			if res.code != 3 {
				t.Errorf("exit %d, want the worker's 3", res.code)
			}
			// shutdown_timeout bounds the flush; the rest is process start-up.
			if elapsed > 6*time.Second {
				t.Errorf("took %s with shutdown_timeout 1s", elapsed)
			}
			for _, sig := range []string{"trace", "metric"} {
				if n := strings.Count(res.stderr, sig+" export failed"); n != 1 {
					t.Errorf("%d %s export errors reported, want exactly one:\n%s", n, sig, res.stderr)
				}
			}
			t.Logf("exit after %s; stderr: %s", elapsed.Round(time.Millisecond), res.stderr)
		})
	}
}

func TestConsoleExporterWritesToStderrOnly(t *testing.T) {
	t.Parallel()
	env := helperEnv("env", "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console")
	res := runQrun(t, env, "--workers", "2", os.Args[0])
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if n := len(records(t, res.stdout)); n != 2 { // records() fails on any other line
		t.Errorf("%d worker records on stdout, want 2", n)
	}
	if !strings.Contains(res.stderr, `"Name":"run `) || !strings.Contains(res.stderr, "qrun.worker.starts") {
		t.Errorf("console spans and metrics not on stderr:\n%s", res.stderr)
	}
}

func TestCarrierCommand(t *testing.T) {
	t.Parallel()
	base := append([]string{"PATH=" + os.Getenv("PATH")}, quietTelemetry...)
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"env", []string{"TRACEPARENT=" + inheritedTP, "BAGGAGE=a=1"}, nil, []string{"TRACEPARENT=" + inheritedTP + "\n", "BAGGAGE=a=1\n"}},
		{"shell", []string{"TRACEPARENT=" + inheritedTP}, []string{"--format", "shell"}, []string{"export TRACEPARENT=" + inheritedTP + "\n"}},
		{"json", []string{"TRACEPARENT=" + inheritedTP}, []string{"--format", "json"}, []string{`{"traceparent":"` + inheritedTP + `"}`}},
		{"none", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQrun(t, append(base, tt.env...), append([]string{"carrier"}, tt.args...)...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("stdout %q lacks %q", res.stdout, w)
				}
			}
			if tt.want == nil && res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
		})
	}
	if res := runQrun(t, base, "carrier", "--format", "xml"); res.code != 2 {
		t.Errorf("--format xml: exit %d, want 2", res.code)
	}
}

func TestCarrierSpanIsExported(t *testing.T) {
	t.Parallel()
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		env := append([]string{"PATH=" + os.Getenv("PATH"), "TRACEPARENT=" + inheritedTP}, r.Env()...)
		res := runQrun(t, env, "carrier", "--span", "backup")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) == 1 }, 20*time.Second)
		s := spans[0]
		if s.Name != "backup" || s.TraceID != inheritedTrace || s.ParentSpanID != inheritedSpan {
			t.Errorf("span %+v; want backup, a child of the inherited context", s)
		}
		if want := "TRACEPARENT=00-" + inheritedTrace + "-" + s.SpanID + "-01\n"; res.stdout != want {
			t.Errorf("stdout %q, want %q", res.stdout, want)
		}
	})
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func TestTelemetryFlushedOnCrashLoopGiveUp(t *testing.T) {
	t.Parallel()
	r := otlptest.NewHTTP(t)
	env := helperEnvWith("exit", workertest.Params{Exit: 3}, r.Env()...)
	res := runQrun(t, env, "--restart", "on-failure", "--max-restarts", "2", os.Args[0])
	if res.code != 3 || !strings.Contains(res.stderr, "giving up") {
		t.Fatalf("exit %d, stderr %q; want 3 and the give-up message", res.code, res.stderr)
	}
	// Everything was exported before the exit, not lost with the process.
	spans := r.Spans()
	reasons := map[any]int{}
	for _, s := range spansNamed(spans, "run "+baseName(os.Args[0])) {
		reasons[s.Attrs["qrun.worker.start.reason"]]++
		if s.StatusCode != "error" || s.Attrs["process.exit.code"] != int64(3) {
			t.Errorf("span of a failed start: %+v", s)
		}
	}
	if reasons["initial"] != 1 || reasons["restart"] != 2 {
		t.Errorf("worker spans by start reason %v, want 1 initial and 2 restarts", reasons)
	}
	if v, _ := lastSum(r.Metrics(), "qrun.worker.starts", "reason", "restart"); v != 2 {
		t.Errorf("qrun.worker.starts{reason=restart} = %v, want 2", v)
	}
}

// A bad OTEL_* value is reported on one line, and the run goes on:
//   - a value the SDK cannot parse is one warning naming one component (it
//     was two lines, each with component=otel-qrun and component=otel);
//   - a malformed OTEL_RESOURCE_ATTRIBUTES is one telemetry error line of
//     the launcher's own (resource detection reported it through otel's
//     default error handler first, a line of the standard library's log
//     outside the redaction and the once-per-signal rule).
func TestBadOTELValueReportedOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		entry, shows string
		ok           func(line string) bool
	}{
		{"OTEL_EXPORTER_OTLP_TIMEOUT=abc", "abc", func(l string) bool {
			return strings.Count(l, "component=") == 1 && strings.Contains(l, "component=otel")
		}},
		{"OTEL_RESOURCE_ATTRIBUTES=a=%ZZ", "%ZZ", func(l string) bool {
			return strings.HasPrefix(l, "otel-qrun: telemetry error: ")
		}},
	} {
		r := otlptest.NewHTTP(t)
		res := runQrun(t, append(r.Env(), "PATH="+os.Getenv("PATH"), tc.entry), "--", "true")
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.entry, res.code, res.stderr)
		}
		if lines := linesWith(res.stderr, tc.shows); len(lines) != 1 || !tc.ok(lines[0]) {
			t.Errorf("%s: lines about it %q, want one of the launcher's own", tc.entry, lines)
		}
	}
}

// With no collector configured and none listening, a run of Go workers
// (forkinit) prints the hint once, the launcher's: each worker's SDK left
// it to the launcher, where each printed its own before.
func TestNoCollectorHintOncePerRun(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "localhost:4318", 5*time.Second); err == nil {
		c.Close()
		t.Skip("something listens on localhost:4318")
	}
	t.Parallel()
	res := runQrun(t, []string{"PATH=" + os.Getenv("PATH")}, "--workers", "2", filepath.Join(exampleBin, "goworker"))
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if n := strings.Count(res.stderr, "otel-qrun: hint: no OpenTelemetry collector"); n != 1 {
		t.Errorf("%d hints, want 1:\n%s", n, res.stderr)
	}
}

// linesWith returns the lines of text that hold substr.
func linesWith(text, substr string) []string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			lines = append(lines, l)
		}
	}
	return lines
}
