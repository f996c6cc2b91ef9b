package propagate_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

func TestMapCarrier(t *testing.T) {
	c := propagate.MapCarrier{"Traceparent": "header", "TRACESTATE": "upper", "tracestate": "lower", "X-B3-TraceId": "b3"}
	for key, want := range map[string]string{
		"traceparent":  "header",
		"TRACEPARENT":  "header",
		"tracestate":   "lower", // exact match first
		"TRACESTATE":   "upper",
		"TraceState":   "lower", // then the lower-case key
		"x-b3-traceid": "b3",
		"baggage":      "",
	} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	c.Set("TraceParent", "new")
	c.Set("Baggage", "b")
	want := propagate.MapCarrier{"traceparent": "new", "baggage": "b", "TRACESTATE": "upper", "tracestate": "lower", "X-B3-TraceId": "b3"}
	if !maps.Equal(c, want) {
		t.Errorf("after Set: %v, want %v", c, want)
	}
	if got := strings.Join(c.Keys(), " "); got != "TRACESTATE X-B3-TraceId baggage traceparent tracestate" {
		t.Errorf("Keys() = %s", got)
	}
	var nilCarrier propagate.MapCarrier
	if nilCarrier.Get("traceparent") != "" || len(nilCarrier.Keys()) != 0 {
		t.Error("nil carrier is not empty")
	}
}

func TestInjectMap(t *testing.T) {
	c := propagate.InjectMap(testContext(t), w3c())
	want := propagate.MapCarrier{"traceparent": testTraceparent, "tracestate": testTracestate, "baggage": testBaggage}
	if !maps.Equal(c, want) {
		t.Errorf("InjectMap = %v, want %v", c, want)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"baggage":"user=alice%3B1","traceparent":"`+testTraceparent+`","tracestate":"`+testTracestate+`"}` {
		t.Errorf("JSON = %s", got)
	}
	if c := propagate.InjectMap(context.Background(), w3c()); c == nil || len(c) != 0 {
		t.Errorf("InjectMap without context = %#v, want empty non-nil", c)
	}
	c = propagate.InjectMap(testContext(t), named(t, "b3multi", "xray"))
	for _, k := range []string{"x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-amzn-trace-id"} {
		if c[k] == "" {
			t.Errorf("InjectMap b3multi,xray = %v, no lower-case key %q", c, k)
		}
	}
}

// InjectMapInto leaves in the reused carrier only what it injects now.
func TestInjectMapInto(t *testing.T) {
	c := propagate.MapCarrier{"stale": "x", "traceparent": "00-old"}
	got := propagate.InjectMapInto(testContext(t), w3c(), c)
	want := propagate.MapCarrier{"traceparent": testTraceparent, "tracestate": testTracestate, "baggage": testBaggage}
	if !maps.Equal(got, want) || !maps.Equal(c, want) {
		t.Errorf("InjectMapInto = %v (carrier %v), want %v", got, c, want)
	}
	if got := propagate.InjectMapInto(context.Background(), w3c(), c); len(got) != 0 {
		t.Errorf("InjectMapInto without context = %v, want empty", got)
	}
}

func TestParseMapCarrier(t *testing.T) {
	tests := []struct {
		raw     string
		want    propagate.MapCarrier
		wantErr string
	}{
		{raw: `{"traceparent":"` + testTraceparent + `"}`, want: propagate.MapCarrier{"traceparent": testTraceparent}},
		{raw: ` {"Traceparent":"x", "a":"", "a":"later"} `, want: propagate.MapCarrier{"Traceparent": "x", "a": "later"}},
		{raw: `{}`, want: propagate.MapCarrier{}},
		{raw: `null`, want: propagate.MapCarrier{}},
		{raw: "\n null\t", want: propagate.MapCarrier{}},
		{raw: `{"k":"\u00e9\n"}`, want: propagate.MapCarrier{"k": "é\n"}},
		{raw: ``, wantErr: "unexpected end of JSON input"},
		{raw: `{"a":"b"`, wantErr: "unexpected end of JSON input"},
		{raw: `{"a":"b"} x`, wantErr: "offset 11: invalid character 'x'"},
		{raw: `{'a':'b'}`, wantErr: "offset 2"},
		{raw: `[]`, wantErr: "got a JSON array, want an object"},
		{raw: `"traceparent"`, wantErr: "got a JSON string"},
		{raw: `42`, wantErr: "got a JSON number"},
		{raw: `true`, wantErr: "got a JSON boolean"},
		{raw: `{"traceparent":"x","sampled":1}`, wantErr: `value of key "sampled" is a JSON number, want a string`},
		{raw: `{"a":1.5e3}`, wantErr: `key "a" is a JSON number`},
		{raw: `{"a":true}`, wantErr: `key "a" is a JSON boolean`},
		{raw: `{"a":null}`, wantErr: `key "a" is a JSON null`},
		{raw: `{"a":["x"]}`, wantErr: `key "a" is a JSON array`},
		{raw: `{"nested":{"traceparent":"x"}}`, wantErr: `key "nested" is a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := propagate.ParseMapCarrier([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMapCarrier(%s) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "parse carrier: ") {
					t.Errorf("error %q lacks context", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMapCarrier(%s): %v", tt.raw, err)
			}
			if got == nil || !maps.Equal(got, tt.want) {
				t.Errorf("ParseMapCarrier(%s) = %#v, want %#v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestMapCarrierUnmarshalJSON(t *testing.T) {
	var line struct {
		ID      string               `json:"id"`
		Carrier propagate.MapCarrier `json:"carrier"`
	}
	if err := json.Unmarshal([]byte(`{"id":"1","carrier":{"traceparent":"`+testTraceparent+`"}}`), &line); err != nil {
		t.Fatal(err)
	}
	if line.Carrier.Get("traceparent") != testTraceparent {
		t.Errorf("carrier = %v", line.Carrier)
	}
	err := json.Unmarshal([]byte(`{"id":"1","carrier":{"traceparent":7}}`), &line)
	if err == nil || !strings.Contains(err.Error(), `"traceparent"`) {
		t.Errorf("error = %v, want one naming the key", err)
	}
	line.Carrier = nil
	if err := json.Unmarshal([]byte(`{"carrier":null}`), &line); err != nil || line.Carrier == nil {
		t.Errorf("null carrier: %v, %#v", err, line.Carrier)
	}
}

func TestExtractMap(t *testing.T) {
	tests := []struct {
		name     string
		carrier  propagate.MapCarrier
		wantErr  bool
		wantSpan bool
	}{
		{name: "valid", carrier: propagate.MapCarrier{"traceparent": testTraceparent, "tracestate": testTracestate}, wantSpan: true},
		{name: "header-style keys", carrier: propagate.MapCarrier{"Traceparent": testTraceparent, "Baggage": testBaggage}, wantSpan: true},
		{name: "nil", carrier: nil},
		{name: "empty", carrier: propagate.MapCarrier{}},
		{name: "malformed", carrier: propagate.MapCarrier{"traceparent": "00-x-y-01", "baggage": testBaggage}, wantErr: true},
		{name: "version ff", carrier: propagate.MapCarrier{"traceparent": "ff" + testTraceparent[2:]}, wantErr: true},
		{name: "baggage only", carrier: propagate.MapCarrier{"baggage": testBaggage}},
		{name: "env-style key is not a field", carrier: propagate.MapCarrier{"TRACE_PARENT": testTraceparent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := propagate.ExtractMap(context.Background(), w3c(), tt.carrier)
			if tt.wantErr != (err != nil) {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, propagate.ErrInvalidCarrier) {
					t.Errorf("%v does not wrap ErrInvalidCarrier", err)
				}
				if !strings.Contains(err.Error(), "traceparent=") {
					t.Errorf("error %q does not name the field", err)
				}
			}
			sc := trace.SpanContextFromContext(ctx)
			if sc.IsValid() != tt.wantSpan {
				t.Fatalf("span context valid = %v, want %v", sc.IsValid(), tt.wantSpan)
			}
			if want := testSpanContext(t); tt.wantSpan && (sc.TraceID() != want.TraceID() || sc.SpanID() != want.SpanID()) {
				t.Errorf("span context = %v", sc)
			}
			if v := tt.carrier.Get("baggage"); v != "" {
				if got := baggage.FromContext(ctx).String(); got != v {
					t.Errorf("baggage = %q, want %q", got, v)
				}
			}
		})
	}
}

func TestMapRoundTrip(t *testing.T) {
	for _, names := range [][]string{{"tracecontext", "baggage"}, {"b3"}, {"b3multi"}, {"jaeger"}, {"xray"}} {
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			p := named(t, names...)
			first := propagate.InjectMap(testContext(t), p)
			raw, err := json.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := propagate.ParseMapCarrier(raw)
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := propagate.ExtractMap(context.Background(), p, parsed)
			if err != nil {
				t.Fatal(err)
			}
			if second := propagate.InjectMap(ctx, p); !maps.Equal(first, second) {
				t.Errorf("map → ctx → map: %v, then %v", first, second)
			}
		})
	}
}
