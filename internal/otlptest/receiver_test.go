package otlptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 10 * time.Second

type variant struct {
	name string
	new  func(testing.TB) *Receiver
	gzip bool
}

var variants = []variant{
	{"grpc", NewGRPC, false},
	{"grpc-gzip", NewGRPC, true},
	{"http", NewHTTP, false},
	{"http-gzip", NewHTTP, true},
}

func host(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("endpoint %q is not http://127.0.0.1:PORT (%v)", endpoint, err)
	}
	return u.Host
}

func newSpanExporter(t *testing.T, v variant, r *Receiver) sdktrace.SpanExporter {
	t.Helper()
	ctx := context.Background()
	h := host(t, r.Endpoint())
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if r.Protocol() == ProtocolGRPC {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(h), otlptracegrpc.WithInsecure()}
		if v.gzip {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(h), otlptracehttp.WithInsecure()}
		if v.gzip {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		t.Fatalf("create span exporter: %v", err)
	}
	return exp
}

func newMetricExporter(t *testing.T, v variant, r *Receiver) sdkmetric.Exporter {
	t.Helper()
	ctx := context.Background()
	h := host(t, r.Endpoint())
	var (
		exp sdkmetric.Exporter
		err error
	)
	if r.Protocol() == ProtocolGRPC {
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(h), otlpmetricgrpc.WithInsecure()}
		if v.gzip {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	} else {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(h), otlpmetrichttp.WithInsecure()}
		if v.gzip {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		t.Fatalf("create metric exporter: %v", err)
	}
	return exp
}

func lowerHex(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789abcdef") == ""
}

func findSpan(spans []Span, name string) (Span, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return Span{}, false
}

func TestReceiverSpans(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			r := v.new(t)
			res := resource.NewSchemaless(
				attribute.String("service.name", "roundtrip"),
				attribute.String("service.instance.id", v.name),
			)
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithResource(res),
				sdktrace.WithBatcher(newSpanExporter(t, v, r)),
			)
			tracer := tp.Tracer("otlptest-test")
			ctx, parent := tracer.Start(context.Background(), "parent",
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("s", "v"),
					attribute.Int("i", 42),
					attribute.Float64("f", 1.5),
					attribute.Bool("b", true),
					attribute.StringSlice("ss", []string{"a", "b"}),
					attribute.Int64Slice("is", []int64{1, 2}),
				))
			linked := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{0xab, 1}, SpanID: trace.SpanID{0xcd, 2}, TraceFlags: trace.FlagsSampled,
			})
			_, child := tracer.Start(ctx, "child",
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "task")}}))
			child.AddEvent("ev", trace.WithAttributes(attribute.Int("n", 1)))
			child.SetStatus(codes.Error, "boom")
			child.End()
			parent.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			spans := r.WaitSpans(t, func(s []Span) bool { return len(s) >= 2 }, waitFor)
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want 2:\n%s", len(spans), DumpSpans(spans))
			}
			p, ok1 := findSpan(spans, "parent")
			c, ok2 := findSpan(spans, "child")
			if !ok1 || !ok2 {
				t.Fatalf("missing spans:\n%s", DumpSpans(spans))
			}
			psc := parent.SpanContext()
			if p.TraceID != psc.TraceID().String() || p.SpanID != psc.SpanID().String() || p.ParentSpanID != "" {
				t.Errorf("parent ids = %s/%s/%q, want %s/%s/root", p.TraceID, p.SpanID, p.ParentSpanID, psc.TraceID(), psc.SpanID())
			}
			if c.TraceID != p.TraceID || c.ParentSpanID != p.SpanID {
				t.Errorf("child trace/parent = %s/%s, want %s/%s", c.TraceID, c.ParentSpanID, p.TraceID, p.SpanID)
			}
			if !lowerHex(c.TraceID, 32) || !lowerHex(c.SpanID, 16) {
				t.Errorf("ids not lower-case hex: %q %q", c.TraceID, c.SpanID)
			}
			if p.Kind != "server" || c.Kind != "consumer" {
				t.Errorf("kinds = %s, %s", p.Kind, c.Kind)
			}
			wantAttrs := map[string]any{
				"s": "v", "i": int64(42), "f": 1.5, "b": true,
				"ss": []any{"a", "b"}, "is": []any{int64(1), int64(2)},
			}
			if got := fmt.Sprintf("%#v", p.Attrs); got != fmt.Sprintf("%#v", wantAttrs) {
				t.Errorf("attrs = %s, want %s", got, fmt.Sprintf("%#v", wantAttrs))
			}
			if p.Resource["service.name"] != "roundtrip" || p.Resource["service.instance.id"] != v.name {
				t.Errorf("resource = %v", p.Resource)
			}
			if p.Scope != "otlptest-test" {
				t.Errorf("scope = %q", p.Scope)
			}
			if c.StatusCode != "error" || c.StatusMessage != "boom" || p.StatusCode != "unset" {
				t.Errorf("status = %s %q / %s", c.StatusCode, c.StatusMessage, p.StatusCode)
			}
			if len(c.Links) != 1 || c.Links[0].TraceID != linked.TraceID().String() ||
				c.Links[0].SpanID != linked.SpanID().String() || c.Links[0].Attrs["why"] != "task" {
				t.Errorf("links = %+v", c.Links)
			}
			if len(c.Events) != 1 || c.Events[0].Name != "ev" || c.Events[0].Attrs["n"] != int64(1) {
				t.Errorf("events = %+v", c.Events)
			}
			if p.Start.IsZero() || p.End.Before(p.Start) {
				t.Errorf("times = %v .. %v", p.Start, p.End)
			}
		})
	}
}

func lastMetric(ms []Metric, name string) (Metric, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Name == name {
			return ms[i], true
		}
	}
	return Metric{}, false
}

func TestReceiverMetrics(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			r := v.new(t)
			mp := sdkmetric.NewMeterProvider(
				sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "metrics"))),
				sdkmetric.WithReader(sdkmetric.NewPeriodicReader(newMetricExporter(t, v, r), sdkmetric.WithInterval(time.Hour))),
			)
			meter := mp.Meter("otlptest-test")
			ctr, _ := meter.Int64Counter("c")
			udc, _ := meter.Int64UpDownCounter("udc")
			hist, _ := meter.Float64Histogram("h")
			gauge, _ := meter.Float64Gauge("g")
			ctx := context.Background()
			ctr.Add(ctx, 3, metric.WithAttributes(attribute.String("reason", "initial")))
			udc.Add(ctx, 2)
			udc.Add(ctx, -1)
			hist.Record(ctx, 1.5)
			hist.Record(ctx, 2.5)
			gauge.Record(ctx, 7)
			if err := mp.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			ms := r.WaitMetrics(t, func(ms []Metric) bool { return len(ms) >= 4 }, waitFor)
			check := func(name, kind string, monotonic bool, value, sum float64, count uint64) {
				t.Helper()
				m, ok := lastMetric(ms, name)
				if !ok {
					t.Errorf("metric %q missing:\n%s", name, DumpMetrics(ms))
					return
				}
				if m.Kind != kind || m.Monotonic != monotonic || len(m.Points) != 1 {
					t.Errorf("metric %q = %+v", name, m)
					return
				}
				p := m.Points[0]
				if p.Value != value || p.Sum != sum || p.Count != count {
					t.Errorf("metric %q point = %+v, want value=%g sum=%g count=%d", name, p, value, sum, count)
				}
				if m.Resource["service.name"] != "metrics" || m.Scope != "otlptest-test" {
					t.Errorf("metric %q resource/scope = %v / %q", name, m.Resource, m.Scope)
				}
			}
			check("c", "sum", true, 3, 0, 0)
			check("udc", "sum", false, 1, 0, 0)
			check("h", "histogram", false, 2, 4, 2)
			check("g", "gauge", false, 7, 0, 0)
			if m, _ := lastMetric(ms, "c"); len(m.Points) == 1 && m.Points[0].Attrs["reason"] != "initial" {
				t.Errorf("counter attrs = %v", m.Points[0].Attrs)
			}
		})
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestWaitTimeoutDumps(t *testing.T) {
	t.Parallel()
	r := NewHTTP(t)
	r.add([]Span{{Name: "only-span", TraceID: "aa", SpanID: "bb"}}, []Metric{{Name: "only-metric", Kind: "sum"}})

	run := func(f func(tb testing.TB)) string {
		tb := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f(tb)
		}()
		<-done
		tb.mu.Lock()
		defer tb.mu.Unlock()
		return tb.msg
	}
	msg := run(func(tb testing.TB) {
		r.WaitSpans(tb, func(s []Span) bool { return len(s) > 1 }, 50*time.Millisecond)
	})
	if !strings.Contains(msg, `"only-span"`) || !strings.Contains(msg, "1 received") {
		t.Errorf("span timeout message = %q", msg)
	}
	msg = run(func(tb testing.TB) {
		r.WaitMetrics(tb, func(m []Metric) bool { return len(m) > 1 }, 50*time.Millisecond)
	})
	if !strings.Contains(msg, `"only-metric"`) {
		t.Errorf("metric timeout message = %q", msg)
	}
}

func TestWaitWakesOnArrival(t *testing.T) {
	t.Parallel()
	r := NewGRPC(t)
	go r.add([]Span{{Name: "late"}}, nil)
	spans := r.WaitSpans(t, func(s []Span) bool { return len(s) == 1 }, waitFor)
	if spans[0].Name != "late" {
		t.Errorf("spans = %+v", spans)
	}
	// Copies: changing the snapshot does not change the receiver.
	spans[0].Name = "changed"
	if got := r.Spans()[0].Name; got != "late" {
		t.Errorf("receiver span changed through a snapshot: %q", got)
	}
}

func TestHTTPRejectsBadRequests(t *testing.T) {
	t.Parallel()
	r := NewHTTP(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		name, method, ctype, encoding, body string
		want                                int
	}{
		{"get", http.MethodGet, "application/x-protobuf", "", "", http.StatusMethodNotAllowed},
		{"json", http.MethodPost, "application/json", "", "{}", http.StatusUnsupportedMediaType},
		{"garbage", http.MethodPost, "application/x-protobuf", "", "\xff\xff\xff", http.StatusBadRequest},
		{"bad gzip", http.MethodPost, "application/x-protobuf", "gzip", "not gzip", http.StatusBadRequest},
		{"empty ok", http.MethodPost, "application/x-protobuf", "", "", http.StatusOK},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, r.Endpoint()+"/v1/traces", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tt.ctype)
		if tt.encoding != "" {
			req.Header.Set("Content-Encoding", tt.encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusOK && resp.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("%s: content type %q", tt.name, resp.Header.Get("Content-Type"))
		}
	}
	if n := len(r.Spans()); n != 0 {
		t.Errorf("got %d spans from bad requests", n)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{variants[0], variants[2]} {
		r := v.new(t)
		env := r.Env()
		get := func(key string) string {
			for _, kv := range slices.Backward(env) {
				if k, val, _ := strings.Cut(kv, "="); k == key {
					return val
				}
			}
			return ""
		}
		want := map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": r.Endpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL": r.Protocol(),
			"OTEL_TRACES_EXPORTER":        "otlp",
			"OTEL_METRICS_EXPORTER":       "otlp",
			"OTEL_LOGS_EXPORTER":          "none",
			"OTEL_BSP_SCHEDULE_DELAY":     "50",
			"OTEL_METRIC_EXPORT_INTERVAL": "100",
		}
		if r.Protocol() == ProtocolGRPC {
			want["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
		} else {
			want["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = r.Endpoint() + "/v1/traces"
		}
		for k, w := range want {
			if got := get(k); got != w {
				t.Errorf("%s: %s=%q, want %q", v.name, k, got, w)
			}
		}
	}
}

func TestBlackholeAcceptsAndNeverAnswers(t *testing.T) {
	t.Parallel()
	h := host(t, Blackhole(t))
	c, err := net.Dial("tcp", h)
	if err != nil {
		t.Fatalf("dial blackhole: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var buf [1]byte
	_, err = c.Read(buf[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read from blackhole = %v, want a timeout", err)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	h := host(t, Refused(t))
	c, err := net.Dial("tcp", h)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded, want refused", h)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial error = %v, want connection refused", err)
	}
}

func TestSinkAcceptsExports(t *testing.T) {
	s := NewSink(t)
	for _, proto := range []string{ProtocolHTTP, ProtocolGRPC} {
		t.Run(proto, func(t *testing.T) {
			for k, v := range envMap(s.EnvFor(proto)) {
				t.Setenv(k, v)
			}
			n0, b0 := s.Requests()
			var exp sdktrace.SpanExporter
			var err error
			if proto == ProtocolGRPC {
				exp, err = otlptracegrpc.New(context.Background())
			} else {
				exp, err = otlptracehttp.New(context.Background())
			}
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			_, span := tp.Tracer("sink-test").Start(context.Background(), "s")
			span.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatalf("export to the sink failed: %v", err)
			}
			if n, b := s.Requests(); n != n0+1 || b == b0 {
				t.Errorf("sink saw %d requests, %d bytes; want 1 request with a body", n-n0, b-b0)
			}
		})
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
