package propagate

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// knownFields are the carrier fields of every propagator OTEL_PROPAGATORS
// can name: tracecontext (W3C Trace Context), baggage (W3C Baggage), b3 and
// b3multi (B3 single and multiple headers, with X-B3-ParentSpanId of the B3
// specification), jaeger, xray and ottrace.
var knownFields = []string{
	"traceparent", "tracestate",
	"baggage",
	"b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
	"uber-trace-id",
	"x-amzn-trace-id",
	"ot-tracer-traceid", "ot-tracer-spanid", "ot-tracer-sampled",
}

// knownPrefixes begin the baggage fields of jaeger (uberctx-KEY) and
// ottrace (ot-baggage-KEY).
var knownPrefixes = []string{"uberctx-", "ot-baggage-"}

// KnownFields returns the carrier fields of every propagator otel-qrun
// knows (tracecontext, baggage, b3 single and multi, jaeger, xray, ottrace),
// lower case, without the prefixed baggage fields of jaeger and ottrace.
func KnownFields() []string { return append([]string(nil), knownFields...) }

// StripCarriers returns a copy of environ without every variable that a
// propagator otel-qrun knows uses as a carrier, whatever OTEL_PROPAGATORS
// says: TRACEPARENT, TRACESTATE, BAGGAGE, B3, X_B3_*, UBER_TRACE_ID,
// UBERCTX_*, X_AMZN_TRACE_ID, OT_TRACER_* and OT_BAGGAGE_*. Once a launcher
// hands a new context on, any of them left over from its own parent would
// name a stale parent. Other entries keep their order; the result is never
// nil.
func StripCarriers(environ []string) []string {
	names := make(map[string]bool, len(knownFields))
	for _, f := range knownFields {
		names[normalizeKey(f)] = true
	}
	prefixes := make([]string, len(knownPrefixes))
	for i, p := range knownPrefixes {
		prefixes[i] = normalizeKey(p)
	}
	out := make([]string, 0, len(environ))
next:
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && names[name] {
			continue
		}
		if ok {
			for _, p := range prefixes {
				if strings.HasPrefix(name, p) {
					continue next
				}
			}
		}
		out = append(out, kv)
	}
	return out
}

// isBaggageField reports whether a carrier field carries baggage rather
// than a span context.
func isBaggageField(key string) bool {
	k := strings.ToLower(key)
	if k == "baggage" {
		return true
	}
	for _, p := range knownPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// inject injects the context of ctx with p into c. Without a valid span
// context only baggage is written: a propagator's placeholder for "no span"
// (B3 writes the sampling decision "0") is no context to hand on.
func inject(ctx context.Context, p propagation.TextMapPropagator, c propagation.TextMapCarrier) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		p.Inject(ctx, c)
		return
	}
	p.Inject(ctx, baggageOnly{c})
}

// baggageOnly passes on the baggage fields a propagator sets, nothing else.
type baggageOnly struct{ propagation.TextMapCarrier }

func (b baggageOnly) Set(key, value string) {
	if isBaggageField(key) {
		b.TextMapCarrier.Set(key, value)
	}
}
