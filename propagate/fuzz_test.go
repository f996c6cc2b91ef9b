package propagate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

// fuzzPropagator is the propagator the fuzz targets run through:
// tracecontext,baggage plus the B3 and Jaeger fields.
func fuzzPropagator(t testing.TB) propagation.TextMapPropagator {
	return named(t, "tracecontext", "baggage", "b3multi", "jaeger")
}

// sameIDs compares what survives every propagator of fuzzPropagator: when
// several carry a span context, the last one extracted wins, and B3 and
// Jaeger drop the trace state.
func sameIDs(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID() && a.IsSampled() == b.IsSampled()
}

func FuzzExtractEnv(f *testing.F) {
	f.Add("PATH=/bin\nTRACEPARENT=" + testTraceparent + "\nTRACESTATE=" + testTracestate + "\nBAGGAGE=" + testBaggage)
	f.Add("TRACEPARENT=00-x-y-01\nBAGGAGE=a=b")
	f.Add("TRACEPARENT=garbage\nTRACEPARENT=" + testTraceparent)
	f.Add("traceparent=" + testTraceparent + "\nNOEQUALS\n\n=x")
	f.Add("X_B3_TRACEID=" + testTraceID + "\nX_B3_SPANID=" + testSpanID + "\nX_B3_SAMPLED=1")
	f.Add("UBER_TRACE_ID=" + testTraceID + ":" + testSpanID + ":0:1\nUBERCTX_K=v")
	f.Add("BAGGAGE=\xff\xfe=\x00")
	f.Fuzz(func(t *testing.T, data string) {
		p := fuzzPropagator(t)
		environ := strings.Split(data, "\n")
		orig := slices.Clone(environ)

		// An unchanged carrier gives back exactly its input.
		if got := propagate.NewEnvCarrier(environ).Environ(); !slices.Equal(got, environ) {
			t.Fatalf("Environ() = %q, want %q", got, environ)
		}

		ctx, err := propagate.ExtractEnv(context.Background(), p, environ)
		if ctx == nil {
			t.Fatal("nil context")
		}
		sc := trace.SpanContextFromContext(ctx)
		if err != nil {
			if !errors.Is(err, propagate.ErrInvalidCarrier) {
				t.Fatalf("error %v does not wrap ErrInvalidCarrier", err)
			}
			if sc.IsValid() {
				t.Fatalf("error %v with a valid span context %v", err, sc)
			}
		}

		// Injecting leaves no stale field behind and keeps other entries.
		out := propagate.InjectEnv(ctx, p, environ)
		stripped := propagate.StripEnv(p, propagate.StripCarriers(environ))
		if !slices.Equal(out[:len(stripped)], stripped) {
			t.Fatalf("InjectEnv changed the kept entries:\n%q\n%q", out, stripped)
		}
		names := make(map[string]int)
		for _, kv := range out[len(stripped):] {
			name, _, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("injected entry %q has no '='", kv)
			}
			names[name]++
		}
		for name, n := range names {
			if n != 1 {
				t.Fatalf("%s injected %d times: %q", name, n, out)
			}
		}

		// What was extracted extracts again to the same span and baggage.
		if sc.IsValid() {
			ctx2, err := propagate.ExtractEnv(context.Background(), p, out)
			if err != nil {
				t.Fatalf("re-extract from %q: %v", out, err)
			}
			if sc2 := trace.SpanContextFromContext(ctx2); !sameIDs(sc, sc2) {
				t.Fatalf("span context %v became %v", sc, sc2)
			}
			if b1, b2 := baggage.FromContext(ctx), baggage.FromContext(ctx2); b1.Len() != b2.Len() {
				t.Fatalf("baggage %v became %v", b1, b2)
			}
		}
		if !slices.Equal(environ, orig) {
			t.Fatal("input modified")
		}
	})
}

func FuzzParseMapCarrier(f *testing.F) {
	f.Add([]byte(`{"traceparent":"` + testTraceparent + `","tracestate":"` + testTracestate + `"}`))
	f.Add([]byte(`{"Traceparent":"00-x-y-01","baggage":"a=b"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte(`{"a":{"b":"c"}}`))
	f.Add([]byte(`["x"]`))
	f.Add([]byte(`{"\u0000":"\ud800"}`))
	f.Add([]byte("{\"\xff\":\"\xfe\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := propagate.ParseMapCarrier(raw)
		if err != nil {
			if c != nil {
				t.Fatalf("non-nil carrier %v with error %v", c, err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil carrier without error")
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := propagate.ParseMapCarrier(again)
		if err != nil {
			t.Fatalf("re-parse %s: %v", again, err)
		}
		if !maps.Equal(c, c2) {
			t.Fatalf("round trip %v became %v", c, c2)
		}
		ctx, err := propagate.ExtractMap(context.Background(), fuzzPropagator(t), c)
		if err != nil && !errors.Is(err, propagate.ErrInvalidCarrier) {
			t.Fatalf("ExtractMap error %v does not wrap ErrInvalidCarrier", err)
		}
		if err != nil && trace.SpanContextFromContext(ctx).IsValid() {
			t.Fatalf("error %v with a valid span context", err)
		}
	})
}

func FuzzParseShell(f *testing.F) {
	f.Add("# trace id: " + testTraceID + "\n#  span id: " + testSpanID + "\nexport TRACEPARENT=" + testTraceparent + "\n")
	f.Add("TRACEPARENT=" + testTraceparent + "\r\nTRACESTATE='" + testTracestate + "'\r\n")
	f.Add(`A='it'\''s' B="x\"y\\z"`)
	f.Add("A='multi\nline'\nexport B=\"x\ny\" # c\nC=a\\\nb")
	f.Add("A=x:~y\nB=$HOME\nC=`id`")
	f.Add("export\nexport A\n=x\n1A=2")
	f.Add("A=\xff\x00")
	f.Fuzz(func(t *testing.T, data string) {
		vars, err := propagate.ParseShell(strings.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := propagate.WriteShell(&buf, vars); err != nil {
			t.Fatalf("WriteShell(%q): %v", vars, err)
		}
		again, err := propagate.ParseShell(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("re-parse of\n%s: %v", buf.Bytes(), err)
		}
		if !maps.Equal(vars, again) {
			t.Fatalf("round trip %q became %q via\n%s", vars, again, buf.Bytes())
		}
		ctx, err := propagate.ExtractShell(context.Background(), fuzzPropagator(t), strings.NewReader(data))
		if err != nil && !errors.Is(err, propagate.ErrInvalidCarrier) {
			t.Fatalf("ExtractShell error %v after a successful parse", err)
		}
		if err == nil && trace.SpanContextFromContext(ctx).IsValid() {
			// A valid context formats to a carrier that extracts again.
			ctx2, err := propagate.ExtractShell(context.Background(), fuzzPropagator(t),
				strings.NewReader(propagate.FormatShell(ctx, fuzzPropagator(t))))
			if err != nil || !sameIDs(trace.SpanContextFromContext(ctx), trace.SpanContextFromContext(ctx2)) {
				t.Fatalf("shell → ctx → shell → ctx: %v", err)
			}
		}
	})
}
