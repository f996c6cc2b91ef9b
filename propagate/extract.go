package propagate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ErrInvalidCarrier is wrapped by the errors of ExtractEnv, ExtractMap and
// ExtractShell when the carrier has a trace field (such as TRACEPARENT) that
// yields no valid span context. The context returned with it is still usable.
var ErrInvalidCarrier = errors.New("invalid trace context carrier")

// maxQuoted bounds how much of a carrier value an error message repeats.
const maxQuoted = 80

// extract runs p.Extract over c and checks the result. display turns a
// propagator field name into the name the user wrote (TRACEPARENT for an
// environment, traceparent for a JSON carrier).
//
// When c has no trace field, the result of p.Extract(ctx, c) is returned
// with a nil error. When it has one but the extracted context has no valid
// span context, the result of p.Extract(ctx, c) (which keeps any span of ctx
// and adds what was valid, such as baggage) is returned with an error
// wrapping ErrInvalidCarrier.
func extract(ctx context.Context, p propagation.TextMapPropagator, c propagation.TextMapCarrier, display func(string) string) (context.Context, error) {
	present := traceFields(p, c)
	if len(present) == 0 {
		return p.Extract(ctx, c), nil
	}
	// Clear any span of ctx so that only a span context coming from the
	// carrier counts as valid.
	out := p.Extract(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), c)
	if trace.SpanContextFromContext(out).IsValid() {
		return out, nil
	}
	parts := make([]string, 0, len(present))
	for _, f := range present {
		parts = append(parts, fmt.Sprintf("%s=%q", display(f), truncate(c.Get(f), maxQuoted)))
	}
	return p.Extract(ctx, c), fmt.Errorf("%w: %s: no valid span context", ErrInvalidCarrier, strings.Join(parts, ", "))
}

// traceFields returns the fields of p that are set in c and that, when set,
// must yield a span context. Baggage and tracestate can be set on their own,
// and a B3 sampling decision without ids ("b3: 0", "x-b3-sampled") is a valid
// B3 carrier that has no span context.
func traceFields(p propagation.TextMapPropagator, c propagation.TextMapCarrier) []string {
	var present []string
	seen := make(map[string]bool)
	for _, f := range p.Fields() {
		lf := strings.ToLower(f)
		if seen[lf] {
			continue
		}
		seen[lf] = true
		v := c.Get(f)
		if v == "" {
			continue
		}
		switch lf {
		case "baggage", "tracestate", "x-b3-sampled", "x-b3-flags":
			continue
		case "b3":
			if len(v) == 1 {
				continue
			}
		}
		present = append(present, f)
	}
	return present
}

// truncate shortens s to at most n bytes plus an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
