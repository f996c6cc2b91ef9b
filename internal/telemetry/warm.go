package telemetry

import (
	"slices"
	"sync"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// warmOTLP encodes, once per process, an OTLP export request of each
// signal exported over OTLP, and decodes its response, so that the first
// real export does not pay for it. The protobuf runtime builds a message
// type's encoder and decoder at the type's first use: for the types of an
// OTLP request about 0.35 ms of CPU on a 2-core machine, which a short run
// (otel-qrun -- true) otherwise spends on its exit path, flushing its one
// span (BenchmarkPrefix). Setup runs it in the background; Shutdown waits
// for it.
func warmOTLP(traces, metrics bool) {
	if traces {
		warmTraces.Do(func() {
			b, _ := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
				Resource: warmResource(),
				ScopeSpans: []*tracepb.ScopeSpans{{
					Scope: warmScope(),
					Spans: []*tracepb.Span{{
						TraceId: make([]byte, 16), SpanId: make([]byte, 8), Name: "warm",
						Attributes: warmAttrs(),
						Events:     []*tracepb.Span_Event{{Name: "warm", Attributes: warmAttrs()}},
						Links:      []*tracepb.Span_Link{{TraceId: make([]byte, 16), SpanId: make([]byte, 8)}},
						Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR},
					}},
				}},
			}}})
			_ = proto.Unmarshal(b[:0], &coltracepb.ExportTraceServiceResponse{})
		})
	}
	if metrics {
		warmMetrics.Do(func() {
			num := []*metricspb.NumberDataPoint{{Attributes: warmAttrs(), Value: &metricspb.NumberDataPoint_AsInt{AsInt: 1}}}
			_, _ = proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
				Resource: warmResource(),
				ScopeMetrics: []*metricspb.ScopeMetrics{{
					Scope: warmScope(),
					Metrics: []*metricspb.Metric{
						{Name: "sum", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: num}}},
						{Name: "gauge", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: slices.Clone(num)}}},
						{Name: "histogram", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
							DataPoints: []*metricspb.HistogramDataPoint{{Attributes: warmAttrs(), BucketCounts: []uint64{1}, ExplicitBounds: []float64{1}}},
						}}},
					},
				}},
			}}})
			_ = proto.Unmarshal(nil, &colmetricspb.ExportMetricsServiceResponse{})
		})
	}
}

var warmTraces, warmMetrics sync.Once

func warmResource() *resourcepb.Resource { return &resourcepb.Resource{Attributes: warmAttrs()} }

func warmScope() *commonpb.InstrumentationScope {
	return &commonpb.InstrumentationScope{Name: "warm", Attributes: warmAttrs()}
}

// warmAttrs holds an attribute of each value type the SDK exports.
func warmAttrs() []*commonpb.KeyValue {
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	return []*commonpb.KeyValue{
		kv("s", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "v"}}),
		kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
		kv("i", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 1}}),
		kv("d", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1}}),
		kv("a", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{
			Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: "v"}}}}}}),
	}
}
