package otlptest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Protocol names as used by OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Receiver is an OTLP server that records what it receives. It is safe for
// concurrent use. Create one with [NewGRPC] or [NewHTTP]; it is stopped when
// the test that created it ends.
type Receiver struct {
	protocol string
	endpoint string

	mu      sync.Mutex
	spans   []Span
	metrics []Metric
	conns   int
	// changed is closed, and replaced, whenever spans or metrics are
	// added or a connection is accepted.
	changed chan struct{}
}

// Span is one received span. Ids are lower-case hex; ParentSpanID is empty
// for a root span. Kind is one of "unspecified", "internal", "server",
// "client", "producer", "consumer"; StatusCode one of "unset", "ok",
// "error".
type Span struct {
	TraceID       string
	SpanID        string
	ParentSpanID  string
	Name          string
	Kind          string
	Attrs         map[string]any
	Resource      map[string]any
	Links         []Link
	Events        []Event
	StatusCode    string
	StatusMessage string
	Start, End    time.Time
	TraceState    string
	// Scope is the name of the instrumentation scope (the tracer's name).
	Scope string
}

// Link is a link of a received span to another span context.
type Link struct {
	TraceID string
	SpanID  string
	Attrs   map[string]any
}

// Event is an event recorded on a received span.
type Event struct {
	Name  string
	Time  time.Time
	Attrs map[string]any
}

// DataPoint is one point of a received metric. For a sum or a gauge, Value is
// the point's value and Sum and Count are zero. For a histogram (and an
// exponential histogram or a summary), Value is the count as a float64, Sum
// the sum of the recorded values and Count the count.
type DataPoint struct {
	Attrs map[string]any
	Value float64
	Sum   float64
	Count uint64
}

// Metric is one metric of one export request. Kind is "sum", "gauge",
// "histogram", "exponential_histogram" or "summary"; Monotonic is meaningful
// for sums only. Every export adds its own entries, so with cumulative
// temporality the last entry of a name holds the latest totals.
type Metric struct {
	Name      string
	Kind      string
	Monotonic bool
	Resource  map[string]any
	Points    []DataPoint
	// Scope is the name of the instrumentation scope (the meter's name).
	Scope string
}

func newReceiver(protocol string) *Receiver {
	return &Receiver{protocol: protocol, changed: make(chan struct{})}
}

// Endpoint returns the base URL of the receiver, "http://127.0.0.1:PORT",
// suitable for OTEL_EXPORTER_OTLP_ENDPOINT with either protocol.
func (r *Receiver) Endpoint() string { return r.endpoint }

// Protocol returns "grpc" or "http/protobuf".
func (r *Receiver) Protocol() string { return r.protocol }

// Env returns environment entries ("KEY=value") to append to a child's
// environment so that its SDK exports traces and metrics to the receiver
// quickly: the endpoint and protocol (general and per signal, so inherited
// per-signal settings do not win), otlp trace and metric exporters, no log
// exporter, a 50 ms batch delay and a 100 ms metric export interval.
func (r *Receiver) Env() []string {
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + r.protocol,
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=" + r.protocol,
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=" + r.protocol,
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_LOGS_EXPORTER=none",
		"OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_METRIC_EXPORT_INTERVAL=100",
	}
	if r.protocol == ProtocolGRPC {
		env = append(env,
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+r.endpoint,
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+r.endpoint,
			"OTEL_EXPORTER_OTLP_INSECURE=true",
		)
	} else {
		env = append(env,
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+r.endpoint+"/v1/traces",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+r.endpoint+"/v1/metrics",
		)
	}
	return env
}

// Setenv sets every entry of [Receiver.Env] in the test's process
// environment with t.Setenv, for SDKs created in the test process itself.
// Like t.Setenv, it cannot be used in parallel tests.
func (r *Receiver) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Spans returns a copy of every span received so far, in arrival order.
// The attribute maps are shared with the receiver: treat them as read-only.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Metrics returns a copy of every metric received so far, in arrival order.
// The attribute maps are shared with the receiver: treat them as read-only.
func (r *Receiver) Metrics() []Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.metrics)
}

// WaitSpans blocks until pred returns true for all the spans received so far
// and returns them. pred is called once at first and again after every
// export that brings spans, never with the receiver locked. When timeout
// passes first, WaitSpans fails the test with t.Fatalf and a dump of what
// arrived, so it must be called from the test's goroutine.
func (r *Receiver) WaitSpans(t testing.TB, pred func([]Span) bool, timeout time.Duration) []Span {
	t.Helper()
	return wait(t, r, "spans", func() []Span { return r.spans }, pred, DumpSpans, timeout)
}

// WaitMetrics blocks until pred returns true for all the metrics received so
// far and returns them. It behaves as [Receiver.WaitSpans].
func (r *Receiver) WaitMetrics(t testing.TB, pred func([]Metric) bool, timeout time.Duration) []Metric {
	t.Helper()
	return wait(t, r, "metrics", func() []Metric { return r.metrics }, pred, DumpMetrics, timeout)
}

// wait is WaitSpans and WaitMetrics: items reads what arrived, with r.mu
// held.
func wait[T any](t testing.TB, r *Receiver, what string, items func() []T, pred func([]T) bool,
	dump func([]T) string, timeout time.Duration,
) []T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		got := slices.Clone(items())
		changed := r.changed
		r.mu.Unlock()
		if pred(got) {
			return got
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("otlptest: %s receiver at %s: %s not as expected after %v; %d received:\n%s",
				r.protocol, r.endpoint, what, timeout, len(got), dump(got))
			return nil
		}
	}
}

// Connections returns how many connections a gRPC receiver has accepted so
// far (an HTTP receiver reports 0).
func (r *Receiver) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// WaitConnections blocks until a gRPC receiver has accepted at least n
// connections. It fails the test as [Receiver.WaitSpans] does.
func (r *Receiver) WaitConnections(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	wait(t, r, "connections", func() []struct{} { return make([]struct{}, r.conns) },
		func(c []struct{}) bool { return len(c) >= n },
		func(c []struct{}) string { return fmt.Sprintf("%d connections\n", len(c)) }, timeout)
}

func (r *Receiver) accepted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns++
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver) add(spans []Span, metrics []Metric) {
	if len(spans) == 0 && len(metrics) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, spans...)
	r.metrics = append(r.metrics, metrics...)
	close(r.changed)
	r.changed = make(chan struct{})
}

// DumpSpans formats spans one per line, for failure messages.
func DumpSpans(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		fmt.Fprintf(&b, "  [%d] %q kind=%s trace=%s span=%s parent=%s status=%s",
			i, s.Name, s.Kind, s.TraceID, s.SpanID, s.ParentSpanID, s.StatusCode)
		if s.StatusMessage != "" {
			fmt.Fprintf(&b, " (%s)", s.StatusMessage)
		}
		fmt.Fprintf(&b, " attrs=%s", formatAttrs(s.Attrs))
		for _, l := range s.Links {
			fmt.Fprintf(&b, " link=%s/%s", l.TraceID, l.SpanID)
		}
		fmt.Fprintf(&b, " resource=%s\n", formatAttrs(s.Resource))
	}
	return b.String()
}

// DumpMetrics formats metrics one per line, for failure messages.
func DumpMetrics(metrics []Metric) string {
	var b strings.Builder
	for i, m := range metrics {
		fmt.Fprintf(&b, "  [%d] %q kind=%s monotonic=%t", i, m.Name, m.Kind, m.Monotonic)
		for _, p := range m.Points {
			fmt.Fprintf(&b, " {value=%g sum=%g count=%d attrs=%s}", p.Value, p.Sum, p.Count, formatAttrs(p.Attrs))
		}
		fmt.Fprintf(&b, " resource=%s\n", formatAttrs(m.Resource))
	}
	return b.String()
}

func formatAttrs(attrs map[string]any) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, attrs[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}
