package otlptest

import (
	"encoding/hex"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func convertSpans(rss []*tracepb.ResourceSpans) []Span {
	var out []Span
	for _, rs := range rss {
		res := convertAttrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			scope := ss.GetScope().GetName()
			for _, s := range ss.GetSpans() {
				out = append(out, convertSpan(s, res, scope))
			}
		}
	}
	return out
}

func convertSpan(s *tracepb.Span, res map[string]any, scope string) Span {
	span := Span{
		TraceID:       hex.EncodeToString(s.GetTraceId()),
		SpanID:        hex.EncodeToString(s.GetSpanId()),
		ParentSpanID:  hex.EncodeToString(s.GetParentSpanId()),
		Name:          s.GetName(),
		Kind:          spanKind(s.GetKind()),
		Attrs:         convertAttrs(s.GetAttributes()),
		Resource:      res,
		StatusCode:    statusCode(s.GetStatus().GetCode()),
		StatusMessage: s.GetStatus().GetMessage(),
		Start:         unixNano(s.GetStartTimeUnixNano()),
		End:           unixNano(s.GetEndTimeUnixNano()),
		TraceState:    s.GetTraceState(),
		Scope:         scope,
	}
	for _, l := range s.GetLinks() {
		span.Links = append(span.Links, Link{
			TraceID: hex.EncodeToString(l.GetTraceId()),
			SpanID:  hex.EncodeToString(l.GetSpanId()),
			Attrs:   convertAttrs(l.GetAttributes()),
		})
	}
	for _, e := range s.GetEvents() {
		span.Events = append(span.Events, Event{
			Name:  e.GetName(),
			Time:  unixNano(e.GetTimeUnixNano()),
			Attrs: convertAttrs(e.GetAttributes()),
		})
	}
	return span
}

func spanKind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	default:
		return "unspecified"
	}
}

func statusCode(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	default:
		return "unset"
	}
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

func convertMetrics(rms []*metricspb.ResourceMetrics) []Metric {
	var out []Metric
	for _, rm := range rms {
		res := convertAttrs(rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			scope := sm.GetScope().GetName()
			for _, m := range sm.GetMetrics() {
				out = append(out, convertMetric(m, res, scope))
			}
		}
	}
	return out
}

func convertMetric(m *metricspb.Metric, res map[string]any, scope string) Metric {
	metric := Metric{Name: m.GetName(), Resource: res, Scope: scope}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Sum:
		metric.Kind = "sum"
		metric.Monotonic = d.Sum.GetIsMonotonic()
		metric.Points = numberPoints(d.Sum.GetDataPoints())
	case *metricspb.Metric_Gauge:
		metric.Kind = "gauge"
		metric.Points = numberPoints(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Histogram:
		metric.Kind = "histogram"
		metric.Points = countPoints(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		metric.Kind = "exponential_histogram"
		metric.Points = countPoints(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		metric.Kind = "summary"
		metric.Points = countPoints(d.Summary.GetDataPoints())
	}
	return metric
}

func numberPoints(ps []*metricspb.NumberDataPoint) []DataPoint {
	out := make([]DataPoint, 0, len(ps))
	for _, p := range ps {
		var v float64
		switch x := p.GetValue().(type) {
		case *metricspb.NumberDataPoint_AsDouble:
			v = x.AsDouble
		case *metricspb.NumberDataPoint_AsInt:
			v = float64(x.AsInt)
		}
		out = append(out, DataPoint{Attrs: convertAttrs(p.GetAttributes()), Value: v})
	}
	return out
}

func convertAttrs(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = convertValue(kv.GetValue())
	}
	return out
}

// convertValue turns an OTLP AnyValue into string, int64, float64, bool,
// []byte, []any or map[string]any (nil when unset).
func convertValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = convertValue(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return convertAttrs(x.KvlistValue.GetValues())
	default:
		return nil
	}
}

// countPoint is a data point with a count and a sum: of a histogram, an
// exponential histogram or a summary.
type countPoint interface {
	GetAttributes() []*commonpb.KeyValue
	GetCount() uint64
	GetSum() float64
}

func countPoints[P countPoint](points []P) []DataPoint {
	var out []DataPoint
	for _, p := range points {
		out = append(out, DataPoint{
			Attrs: convertAttrs(p.GetAttributes()),
			Value: float64(p.GetCount()),
			Sum:   p.GetSum(),
			Count: p.GetCount(),
		})
	}
	return out
}
