package propagate_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	testTraceID     = "0af7651916cd43dd8448eb211c80319c"
	testSpanID      = "b7ad6b7169203331"
	testTraceparent = "00-" + testTraceID + "-" + testSpanID + "-01"
	testTracestate  = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
	testBaggage     = "user=alice%3B1" // one member: baggage.String has no fixed order
)

// w3c is the default OTEL_PROPAGATORS: tracecontext,baggage.
func w3c() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// named returns the autoprop propagator for OTEL_PROPAGATORS names.
func named(t testing.TB, names ...string) propagation.TextMapPropagator {
	t.Helper()
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		t.Fatalf("autoprop.TextMapPropagator(%q): %v", names, err)
	}
	return p
}

func testSpanContext(t testing.TB) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(testTraceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(testSpanID)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trace.ParseTraceState(testTracestate)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.FlagsSampled,
		TraceState: ts,
	})
}

// testContext returns a context with the test span context and baggage.
func testContext(t testing.TB) context.Context {
	t.Helper()
	b, err := baggage.Parse(testBaggage)
	if err != nil {
		t.Fatal(err)
	}
	ctx := baggage.ContextWithBaggage(context.Background(), b)
	return trace.ContextWithSpanContext(ctx, testSpanContext(t))
}

// sameSpan reports whether two span contexts have the same ids, flags and
// trace state (remoteness aside).
func sameSpan(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID() &&
		a.TraceFlags() == b.TraceFlags() && a.TraceState().String() == b.TraceState().String()
}
