package propagate_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

// Every field of every propagator OTEL_PROPAGATORS can name is known, so
// that InjectEnv strips it whatever the configured propagators are.
func TestKnownFieldsCoverEveryPropagator(t *testing.T) {
	known := propagate.KnownFields()
	for _, name := range []string{"tracecontext", "baggage", "b3", "b3multi", "jaeger", "xray", "ottrace"} {
		for _, f := range named(t, name).Fields() {
			if !slices.Contains(known, strings.ToLower(f)) {
				t.Errorf("field %q of %s is not in KnownFields", f, name)
			}
		}
	}
}

// inherited is a launcher environment holding a stale carrier of every
// propagator at once.
var inherited = []string{
	"PATH=/bin",
	"TRACEPARENT=00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
	"TRACESTATE=old=1",
	"BAGGAGE=old=1",
	"B3=ffffffffffffffffffffffffffffffff-ffffffffffffffff-1",
	"X_B3_TRACEID=ffffffffffffffffffffffffffffffff",
	"X_B3_SPANID=ffffffffffffffff",
	"X_B3_PARENTSPANID=ffffffffffffffff",
	"X_B3_SAMPLED=1",
	"X_B3_FLAGS=1",
	"UBER_TRACE_ID=ffffffffffffffff:ffffffffffffffff:0:1",
	"UBERCTX_OLD=1",
	"X_AMZN_TRACE_ID=Root=1-ffffffff-ffffffffffffffffffffffff;Parent=ffffffffffffffff;Sampled=1",
	"OT_TRACER_TRACEID=ffffffffffffffff",
	"OT_TRACER_SPANID=ffffffffffffffff",
	"OT_TRACER_SAMPLED=true",
	"OT_BAGGAGE_OLD=1",
	"traceparent=lower-case-is-another-variable",
	"HOME=/root",
}

// For every combination of propagators, with a stale carrier of every
// propagator inherited: the worker gets exactly what the configured
// propagators inject for the new context, each variable once, and no stale
// value of any propagator; without a span context, no placeholder.
func TestInjectEnvEveryCombination(t *testing.T) {
	all := []string{"tracecontext", "baggage", "b3", "b3multi", "jaeger", "xray", "ottrace"}
	ctx := testContext(t)
	for mask := 0; mask < 1<<len(all); mask++ {
		var names []string
		for i, n := range all {
			if mask&(1<<i) != 0 {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			names = []string{"none"}
		}
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			p := named(t, names...)
			for _, tc := range []struct {
				name string
				ctx  context.Context
			}{{"span", ctx}, {"no span", context.Background()}} {
				got := propagate.InjectEnv(tc.ctx, p, inherited)
				// AppendEnv is the same, the stripping done once apart.
				if split := propagate.AppendEnv(tc.ctx, p, propagate.StripEnv(p, propagate.StripCarriers(inherited))); !slices.Equal(split, got) {
					t.Errorf("%s: strip, then AppendEnv\n%q\nwant InjectEnv's\n%q", tc.name, split, got)
				}
				if !slices.Equal(got[:3], []string{"PATH=/bin", "traceparent=lower-case-is-another-variable", "HOME=/root"}) {
					t.Fatalf("%s: kept entries %q", tc.name, got[:3])
				}
				want := propagate.FormatEnv(tc.ctx, p)
				var b strings.Builder
				seen := map[string]bool{}
				for _, kv := range got[3:] {
					name, value, _ := strings.Cut(kv, "=")
					if seen[name] {
						t.Errorf("%s: %s twice", tc.name, name)
					}
					seen[name] = true
					if strings.Contains(value, "ffffffff") || value == "1" && name != "X_B3_SAMPLED" && !strings.HasPrefix(name, "OT_BAGGAGE_") && !strings.HasPrefix(name, "UBERCTX_") {
						t.Errorf("%s: stale %s", tc.name, kv)
					}
					b.WriteString(kv + "\n")
				}
				if b.String() != want {
					t.Errorf("%s: injected\n%s\nwant what the propagators write\n%s", tc.name, b.String(), want)
				}
				if !trace.SpanContextFromContext(tc.ctx).IsValid() {
					for _, kv := range got[3:] {
						if !strings.HasPrefix(kv, "BAGGAGE=") && !strings.HasPrefix(kv, "OT_BAGGAGE_") {
							t.Errorf("no span context: placeholder %s", kv)
						}
					}
				}
			}
		})
	}
}

// No span context: the carrier formats print no placeholder (B3's
// sampling decision "0" is not a context).
func TestNoPlaceholderWithoutSpan(t *testing.T) {
	for _, names := range [][]string{{"b3"}, {"b3multi"}, {"tracecontext", "baggage", "b3", "jaeger", "xray", "ottrace"}} {
		p := named(t, names...)
		if got := propagate.FormatEnv(context.Background(), p); got != "" {
			t.Errorf("FormatEnv %v = %q, want nothing", names, got)
		}
		if got := propagate.FormatShell(context.Background(), p); got != "" {
			t.Errorf("FormatShell %v = %q, want nothing", names, got)
		}
		if got := propagate.InjectMap(context.Background(), p); len(got) != 0 {
			t.Errorf("InjectMap %v = %v, want empty", names, got)
		}
	}
}
