package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

// redactAttrs masks secrets in string values (and string slices) of attrs,
// and the whole value of attributes whose keys look secret. It returns
// attrs itself when nothing changes.
func redactAttrs(r *redact.Redactor, attrs []attribute.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for i, kv := range attrs {
		clean := redactAttr(r, kv)
		if out == nil && clean != kv {
			out = append(make([]attribute.KeyValue, 0, len(attrs)), attrs[:i]...)
		}
		if out != nil {
			out = append(out, clean)
		}
	}
	if out == nil {
		return attrs
	}
	return out
}

// secretKeys caches redact.SecretName by attribute key: an exporter asks
// it for every attribute of every span, and the keys are few. At most
// maxSecretKeys are kept.
var secretKeys struct {
	sync.RWMutex
	m map[attribute.Key]bool
}

const maxSecretKeys = 4096

func secretKey(k attribute.Key) bool {
	secretKeys.RLock()
	secret, ok := secretKeys.m[k]
	secretKeys.RUnlock()
	if ok {
		return secret
	}
	secret = redact.SecretName(string(k))
	secretKeys.Lock()
	if secretKeys.m == nil {
		secretKeys.m = make(map[attribute.Key]bool)
	}
	if len(secretKeys.m) < maxSecretKeys {
		secretKeys.m[k] = secret
	}
	secretKeys.Unlock()
	return secret
}

func redactAttr(r *redact.Redactor, kv attribute.KeyValue) attribute.KeyValue {
	if secretKey(kv.Key) {
		return kv.Key.String(redact.Mask)
	}
	switch kv.Value.Type() {
	case attribute.STRING:
		if s := r.String(kv.Value.AsString()); s != kv.Value.AsString() {
			return kv.Key.String(s)
		}
	case attribute.STRINGSLICE:
		in := kv.Value.AsStringSlice()
		out := make([]string, len(in))
		changed := false
		for i, s := range in {
			out[i] = r.String(s)
			changed = changed || out[i] != s
		}
		if changed {
			return kv.Key.StringSlice(out)
		}
	}
	return kv
}

// redactResource returns res with its attributes masked.
func redactResource(r *redact.Redactor, res *resource.Resource) *resource.Resource {
	attrs := res.Attributes()
	clean := redactAttrs(r, attrs)
	if len(attrs) == 0 || &clean[0] == &attrs[0] {
		return res // unchanged
	}
	return resource.NewWithAttributes(res.SchemaURL(), clean...)
}

// redactedSpan shows a span with secrets masked in its name, attributes,
// status description, events and links.
type redactedSpan struct {
	sdktrace.ReadOnlySpan
	r *redact.Redactor
}

func (s redactedSpan) Name() string { return s.r.String(s.ReadOnlySpan.Name()) }

func (s redactedSpan) Attributes() []attribute.KeyValue {
	return redactAttrs(s.r, s.ReadOnlySpan.Attributes())
}

func (s redactedSpan) Status() sdktrace.Status {
	st := s.ReadOnlySpan.Status()
	st.Description = s.r.String(st.Description)
	return st
}

func (s redactedSpan) Events() []sdktrace.Event {
	evs := s.ReadOnlySpan.Events()
	out := make([]sdktrace.Event, len(evs))
	for i, ev := range evs {
		ev.Name = s.r.String(ev.Name)
		ev.Attributes = redactAttrs(s.r, ev.Attributes)
		out[i] = ev
	}
	return out
}

func (s redactedSpan) Links() []sdktrace.Link {
	links := s.ReadOnlySpan.Links()
	out := make([]sdktrace.Link, len(links))
	for i, l := range links {
		l.Attributes = redactAttrs(s.r, l.Attributes)
		out[i] = l
	}
	return out
}

// redactSpans wraps every span of spans.
func redactSpans(r *redact.Redactor, spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactedSpan{ReadOnlySpan: s, r: r}
	}
	return out
}

// redactSet returns set with its values masked, or set itself when nothing
// changes.
func redactSet(r *redact.Redactor, set attribute.Set) attribute.Set {
	if set.Len() == 0 {
		return set
	}
	kvs := set.ToSlice()
	clean := redactAttrs(r, kvs)
	if &clean[0] == &kvs[0] {
		return set
	}
	return attribute.NewSet(clean...)
}

// redactMetrics returns a copy of rm with the attributes of every data
// point masked; rm itself, which the SDK reuses, is not changed. The
// resource was masked when it was created.
func redactMetrics(r *redact.Redactor, rm *metricdata.ResourceMetrics) *metricdata.ResourceMetrics {
	out := *rm
	out.ScopeMetrics = make([]metricdata.ScopeMetrics, len(rm.ScopeMetrics))
	for i, sm := range rm.ScopeMetrics {
		ms := make([]metricdata.Metrics, len(sm.Metrics))
		for j, m := range sm.Metrics {
			m.Data = redactAggregation(r, m.Data)
			ms[j] = m
		}
		sm.Metrics = ms
		out.ScopeMetrics[i] = sm
	}
	return &out
}

func redactAggregation(r *redact.Redactor, a metricdata.Aggregation) metricdata.Aggregation {
	switch d := a.(type) {
	case metricdata.Gauge[int64]:
		d.DataPoints = redactPoints(r, d.DataPoints, pointAttrs[int64])
		return d
	case metricdata.Gauge[float64]:
		d.DataPoints = redactPoints(r, d.DataPoints, pointAttrs[float64])
		return d
	case metricdata.Sum[int64]:
		d.DataPoints = redactPoints(r, d.DataPoints, pointAttrs[int64])
		return d
	case metricdata.Sum[float64]:
		d.DataPoints = redactPoints(r, d.DataPoints, pointAttrs[float64])
		return d
	case metricdata.Histogram[int64]:
		d.DataPoints = redactPoints(r, d.DataPoints, histogramAttrs[int64])
		return d
	case metricdata.Histogram[float64]:
		d.DataPoints = redactPoints(r, d.DataPoints, histogramAttrs[float64])
		return d
	case metricdata.ExponentialHistogram[int64]:
		d.DataPoints = redactPoints(r, d.DataPoints, expHistogramAttrs[int64])
		return d
	case metricdata.ExponentialHistogram[float64]:
		d.DataPoints = redactPoints(r, d.DataPoints, expHistogramAttrs[float64])
		return d
	case metricdata.Summary:
		d.DataPoints = redactPoints(r, d.DataPoints, func(p *metricdata.SummaryDataPoint) *attribute.Set { return &p.Attributes })
		return d
	}
	return a
}

func pointAttrs[N int64 | float64](p *metricdata.DataPoint[N]) *attribute.Set { return &p.Attributes }

func histogramAttrs[N int64 | float64](p *metricdata.HistogramDataPoint[N]) *attribute.Set {
	return &p.Attributes
}

func expHistogramAttrs[N int64 | float64](p *metricdata.ExponentialHistogramDataPoint[N]) *attribute.Set {
	return &p.Attributes
}

// redactPoints returns a copy of points with the attribute set that attrs
// finds in each masked.
func redactPoints[P any](r *redact.Redactor, points []P, attrs func(*P) *attribute.Set) []P {
	out := make([]P, len(points))
	copy(out, points)
	for i := range out {
		set := attrs(&out[i])
		*set = redactSet(r, *set)
	}
	return out
}
