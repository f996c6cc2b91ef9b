package launcher

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// The environment of a start, built from the run's template, whatever the
// inherited environment holds (duplicates, entries without '=', stale
// carriers, the launcher's own variables): every name once; the launcher's
// variables, the carrier and the start's extra variables with the start's
// values; every other name with its last inherited value. (An entry
// without '=' names no variable: getenv(3) and Go skip it; it is kept.)
func FuzzEnvTemplate(f *testing.F) {
	f.Add("PATH=/bin\nHOME=/root\nPATH=/usr/bin", true, false)
	f.Add("TRACEPARENT=00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01\nTRACESTATE=a=1\nX_B3_TRACEID=1", true, false)
	f.Add("QRUN_TASK_ID=outer\nQRUN_WORKERS=9\nOTEL_RESOURCE_ATTRIBUTES=a=b,service.instance.id=x", false, true)
	f.Add("OTEL_METRICS_EXPORTER=prometheus\nOTEL_EXPORTER_PROMETHEUS_PORT=9500\nnoequals\n=empty", true, true)
	f.Fuzz(func(t *testing.T, environ string, withPropagator, strip bool) {
		env := strings.Split(environ, "\n")
		var p propagation.TextMapPropagator
		if withPropagator {
			p = propagation.TraceContext{}
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		id := WorkerIdentity{Cluster: "c", Index: 2, Workers: 3, InstanceID: "inst"}
		extra := []string{qrun.EnvTaskID + "=t", qrun.EnvTaskAttempt + "=1"}
		var carrier []string
		if strip {
			carrier = []string{"TRACEPARENT=00-" + strings.Repeat("ab", 16) + "-" + strings.Repeat("cd", 8) + "-01"}
		}
		tmpl := newEnvTemplate(p, env, strip, []string{qrun.EnvTaskID, qrun.EnvTaskAttempt})
		if !tmpl.serves(strip, extra) {
			t.Fatal("the template does not serve the starts it was made for")
		}
		got := tmpl.build(ctx, p, id, carrier, extra)

		values := map[string]string{}
		for _, kv := range got {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if _, dup := values[k]; dup {
				t.Fatalf("%q twice in %q", k, got)
			}
			values[k] = v
		}
		want := map[string]string{
			qrun.EnvTaskID: "t", qrun.EnvTaskAttempt: "1", qrun.EnvCluster: "c", qrun.EnvWorkerIndex: "2", qrun.EnvWorkers: "3",
		}
		switch {
		case strip:
			want["TRACEPARENT"] = carrier[0][len("TRACEPARENT="):]
		case p != nil:
			want["TRACEPARENT"] = "00-01000000000000000000000000000000-0200000000000000-01"
		}
		for k, v := range want {
			if values[k] != v {
				t.Errorf("%s=%q, want %q", k, values[k], v)
			}
		}
		if attrs := values[envResourceAttrs]; !strings.HasSuffix(attrs, AttrInstanceID+"=inst,"+AttrWorkerIndex+"=2") {
			t.Errorf("%s=%q", envResourceAttrs, attrs)
		}
		// Every other inherited name keeps its last value, except the
		// carriers a propagator or a task carrier replaces.
		last := map[string]string{}
		for _, kv := range env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				last[k] = v
			}
		}
		for k, v := range last {
			if _, set := want[k]; set || k == envResourceAttrs || (k == envPrometheusPort && tmpl.promBase > 0) ||
				((p != nil || strip) && isCarrierName(k)) {
				continue
			}
			if got, ok := values[k]; !ok || got != v {
				t.Errorf("inherited %s=%q became %q (present %v)", k, v, got, ok)
			}
		}
	})
}

// isCarrierName reports whether the launcher removes k as an inherited
// carrier variable (propagate.StripCarriers) before injecting.
func isCarrierName(k string) bool {
	for _, n := range []string{"TRACEPARENT", "TRACESTATE", "BAGGAGE", "B3", "UBER_TRACE_ID", "X_AMZN_TRACE_ID"} {
		if k == n {
			return true
		}
	}
	for _, p := range []string{"X_B3_", "UBERCTX_", "OT_TRACER_", "OT_BAGGAGE_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
