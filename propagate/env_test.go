package propagate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

func TestEnvCarrier(t *testing.T) {
	environ := []string{
		"PATH=/bin",
		"TRACEPARENT=first",
		"traceparent=lower",
		"NOEQUALS",
		"",
		"=C:=C:\\",
		"X_B3_TRACEID=b3",
		"_1ABC=digit",
		"EMPTY=",
		"TRACEPARENT=second",
		"Mixed_Case=m",
	}
	orig := slices.Clone(environ)
	c := propagate.NewEnvCarrier(environ)

	for key, want := range map[string]string{
		"traceparent":  "second", // normalized, last entry wins
		"TRACEPARENT":  "second",
		"x-b3-traceid": "b3",
		"1abc":         "digit",
		"empty":        "",
		"noequals":     "",
		"mixed_case":   "", // "Mixed_Case" is not a normalized name
		"missing":      "",
	} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	if got, want := c.Keys(), []string{"PATH", "X_B3_TRACEID", "_1ABC", "EMPTY", "TRACEPARENT"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
	if got := c.Environ(); !slices.Equal(got, orig) {
		t.Errorf("unchanged Environ() = %q, want the input %q", got, orig)
	}

	// The carrier owns a copy: changing the input or an Environ result
	// does not change it.
	environ[0] = "PATH=changed"
	c.Environ()[0] = "PATH=changed too"
	if got := c.Get("PATH"); got != "/bin" {
		t.Errorf("Get(PATH) after outside changes = %q, want /bin", got)
	}

	c.Set("traceparent", "new")
	c.Set("path", "/usr/bin")
	c.Set("x-b3-spanid", "span")
	c.Set("ünï", "u")
	want := []string{
		"PATH=/usr/bin",
		"traceparent=lower",
		"NOEQUALS",
		"",
		"=C:=C:\\",
		"X_B3_TRACEID=b3",
		"_1ABC=digit",
		"EMPTY=",
		"TRACEPARENT=new", // updated in place, the earlier duplicate dropped
		"Mixed_Case=m",
		"X_B3_SPANID=span",
		"_N_=u",
	}
	if got := c.Environ(); !slices.Equal(got, want) {
		t.Errorf("Environ() after Set =\n%q\nwant\n%q", got, want)
	}
	if !slices.Equal(environ[1:], orig[1:]) {
		t.Errorf("input slice modified: %q", environ)
	}
}

func TestEnvCarrierZeroValue(t *testing.T) {
	var c propagate.EnvCarrier
	if got := c.Get("traceparent"); got != "" {
		t.Errorf("Get on zero value = %q", got)
	}
	if env := c.Environ(); env == nil || len(env) != 0 {
		t.Errorf("Environ on zero value = %#v, want empty non-nil", env)
	}
	c.Set("traceparent", "x")
	if got := c.Environ(); !slices.Equal(got, []string{"TRACEPARENT=x"}) {
		t.Errorf("Environ = %q", got)
	}
}

func TestStripEnv(t *testing.T) {
	environ := []string{
		"A=1", "TRACEPARENT=x", "BAGGAGE=b", "TRACEPARENT=y", "traceparent=keep",
		"TRACESTATE=", "TRACEPARENT", "B=2", "B3=keep-not-a-field",
	}
	got := propagate.StripEnv(w3c(), environ)
	want := []string{"A=1", "traceparent=keep", "TRACEPARENT", "B=2", "B3=keep-not-a-field"}
	if !slices.Equal(got, want) {
		t.Errorf("StripEnv = %q, want %q", got, want)
	}
	if got := propagate.StripEnv(w3c(), nil); got == nil {
		t.Error("StripEnv(nil) = nil, want a non-nil empty slice")
	}
	got = propagate.StripEnv(named(t, "b3multi"), []string{"X_B3_TRACEID=1", "X_B3_SPANID=2", "X_B3_SAMPLED=1", "X_B3_FLAGS=1", "B3=1", "Z=z"})
	if want := []string{"B3=1", "Z=z"}; !slices.Equal(got, want) {
		t.Errorf("StripEnv b3multi = %q, want %q", got, want)
	}
}

func TestInjectEnv(t *testing.T) {
	ctx := testContext(t)
	stale := []string{
		"PATH=/bin",
		"TRACEPARENT=00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
		"HOME=/root",
		"TRACESTATE=old=1",
		"BAGGAGE=old=1",
		"traceparent=lower-is-another-variable",
		"TRACEPARENT=00-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-eeeeeeeeeeeeeeee-01",
		"X_B3_TRACEID=" + strings.Repeat("e", 32),
		"X_B3_FLAGS=1",
		"B3=stale",
		"UBER_TRACE_ID=stale",
		"TERM=xterm",
	}
	kept := []string{"PATH=/bin", "HOME=/root", "traceparent=lower-is-another-variable"}
	tests := []struct {
		name    string
		p       propagation.TextMapPropagator
		ctx     context.Context
		environ []string
		want    []string
	}{
		{
			name:    "w3c replaces stale values of every propagator and keeps the rest in order",
			p:       w3c(),
			ctx:     ctx,
			environ: stale,
			want: append(slices.Clone(kept), "TERM=xterm",
				"TRACEPARENT="+testTraceparent, "TRACESTATE="+testTracestate, "BAGGAGE="+testBaggage),
		},
		{
			name:    "no span context removes stale values",
			p:       w3c(),
			ctx:     context.Background(),
			environ: stale,
			want:    append(slices.Clone(kept), "TERM=xterm"),
		},
		{
			name:    "b3 single header",
			p:       named(t, "b3"),
			ctx:     ctx,
			environ: stale,
			want:    append(slices.Clone(kept), "TERM=xterm", "B3="+testTraceID+"-"+testSpanID+"-1"),
		},
		{
			name:    "b3 multiple headers",
			p:       named(t, "b3multi"),
			ctx:     ctx,
			environ: stale,
			want: append(slices.Clone(kept), "TERM=xterm",
				"X_B3_SAMPLED=1", "X_B3_SPANID="+testSpanID, "X_B3_TRACEID="+testTraceID),
		},
		{
			name:    "tracecontext, baggage and jaeger",
			p:       named(t, "tracecontext", "baggage", "jaeger"),
			ctx:     ctx,
			environ: []string{"UBER_TRACE_ID=stale", "A=1"},
			want: []string{"A=1",
				"TRACEPARENT=" + testTraceparent, "TRACESTATE=" + testTracestate, "BAGGAGE=" + testBaggage,
				"UBER_TRACE_ID=" + testTraceID + ":" + testSpanID + ":0:1"},
		},
		{
			name:    "nil environ",
			p:       propagation.TraceContext{},
			ctx:     ctx,
			environ: nil,
			want:    []string{"TRACEPARENT=" + testTraceparent, "TRACESTATE=" + testTracestate},
		},
		{
			name:    "nil environ and nothing to inject gives an empty non-nil slice",
			p:       w3c(),
			ctx:     context.Background(),
			environ: nil,
			want:    []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.environ)
			got := propagate.InjectEnv(tt.ctx, tt.p, tt.environ)
			if !slices.Equal(got, tt.want) {
				t.Errorf("InjectEnv =\n%q\nwant\n%q", got, tt.want)
			}
			if got == nil {
				t.Error("InjectEnv returned nil, which exec.Cmd reads as \"inherit the environment\"")
			}
			if !slices.Equal(tt.environ, orig) {
				t.Errorf("input modified: %q", tt.environ)
			}
		})
	}
}

func TestExtractEnv(t *testing.T) {
	want := testSpanContext(t)
	tests := []struct {
		name        string
		p           propagation.TextMapPropagator
		environ     []string
		wantErr     bool
		wantSpan    bool
		wantBaggage string
	}{
		{
			name:        "valid",
			p:           w3c(),
			environ:     []string{"PATH=/bin", "TRACEPARENT=" + testTraceparent, "TRACESTATE=" + testTracestate, "BAGGAGE=" + testBaggage},
			wantSpan:    true,
			wantBaggage: testBaggage,
		},
		{
			name:    "missing",
			p:       w3c(),
			environ: []string{"PATH=/bin"},
		},
		{
			name:    "empty environment",
			p:       w3c(),
			environ: nil,
		},
		{
			name:    "empty TRACEPARENT is missing",
			p:       w3c(),
			environ: []string{"TRACEPARENT="},
		},
		{
			name:        "malformed traceparent keeps valid baggage",
			p:           w3c(),
			environ:     []string{"TRACEPARENT=00-not-a-traceparent-01", "TRACESTATE=" + testTracestate, "BAGGAGE=" + testBaggage},
			wantErr:     true,
			wantBaggage: testBaggage,
		},
		{
			name:    "all-zero trace id",
			p:       w3c(),
			environ: []string{"TRACEPARENT=00-00000000000000000000000000000000-" + testSpanID + "-01"},
			wantErr: true,
		},
		{
			name:    "upper-case hex is invalid",
			p:       w3c(),
			environ: []string{"TRACEPARENT=" + strings.ToUpper(testTraceparent)},
			wantErr: true,
		},
		{
			name:    "lower-case name is another variable",
			p:       w3c(),
			environ: []string{"traceparent=" + testTraceparent},
		},
		{
			name:     "later duplicate wins",
			p:        w3c(),
			environ:  []string{"TRACEPARENT=garbage", "TRACEPARENT=" + testTraceparent, "TRACESTATE=" + testTracestate},
			wantSpan: true,
		},
		{
			name:    "later malformed duplicate wins",
			p:       w3c(),
			environ: []string{"TRACEPARENT=" + testTraceparent, "TRACEPARENT=garbage"},
			wantErr: true,
		},
		{
			name:    "tracestate alone is not an error",
			p:       w3c(),
			environ: []string{"TRACESTATE=" + testTracestate},
		},
		{
			name:        "baggage alone",
			p:           w3c(),
			environ:     []string{"BAGGAGE=" + testBaggage},
			wantBaggage: testBaggage,
		},
		{
			name:    "b3 single",
			p:       named(t, "b3"),
			environ: []string{"B3=" + testTraceID + "-" + testSpanID + "-1"},
			// b3 carries no trace state
			wantSpan: true,
		},
		{
			name:    "b3 single sampling decision only",
			p:       named(t, "b3"),
			environ: []string{"B3=0"},
		},
		{
			name:    "b3 single malformed",
			p:       named(t, "b3"),
			environ: []string{"B3=" + testTraceID + "-zz"},
			wantErr: true,
		},
		{
			name:     "b3 multi",
			p:        named(t, "b3multi"),
			environ:  []string{"X_B3_TRACEID=" + testTraceID, "X_B3_SPANID=" + testSpanID, "X_B3_SAMPLED=1"},
			wantSpan: true,
		},
		{
			name:    "b3 multi lower-case names are not read",
			p:       named(t, "b3multi"),
			environ: []string{"x_b3_traceid=" + testTraceID, "x-b3-spanid=" + testSpanID},
		},
		{
			name:    "b3 multi trace id without span id",
			p:       named(t, "b3multi"),
			environ: []string{"X_B3_TRACEID=" + testTraceID, "X_B3_SAMPLED=1"},
			wantErr: true,
		},
		{
			name:    "b3 multi sampled only",
			p:       named(t, "b3multi"),
			environ: []string{"X_B3_SAMPLED=0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := propagate.ExtractEnv(context.Background(), tt.p, tt.environ)
			if tt.wantErr != (err != nil) {
				t.Fatalf("ExtractEnv error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, propagate.ErrInvalidCarrier) {
				t.Errorf("error %v does not wrap ErrInvalidCarrier", err)
			}
			if ctx == nil {
				t.Fatal("nil context")
			}
			sc := trace.SpanContextFromContext(ctx)
			if sc.IsValid() != tt.wantSpan {
				t.Fatalf("span context %v valid = %v, want %v", sc, sc.IsValid(), tt.wantSpan)
			}
			if tt.wantSpan {
				if !sc.IsRemote() {
					t.Error("extracted span context is not remote")
				}
				if sc.TraceID() != want.TraceID() || sc.SpanID() != want.SpanID() || !sc.IsSampled() {
					t.Errorf("span context = %v, want %v", sc, want)
				}
			}
			if got := baggage.FromContext(ctx).String(); got != tt.wantBaggage {
				t.Errorf("baggage = %q, want %q", got, tt.wantBaggage)
			}
		})
	}
}

func TestExtractEnvErrorNamesField(t *testing.T) {
	_, err := propagate.ExtractEnv(context.Background(), named(t, "b3multi"), []string{"X_B3_TRACEID=nothex", "X_B3_SPANID=" + testSpanID})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"X_B3_TRACEID=\"nothex\"", "X_B3_SPANID"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	_, err = propagate.ExtractEnv(context.Background(), w3c(), []string{"TRACEPARENT=" + strings.Repeat("x", 1<<20)})
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("error for a huge value is %d bytes long, want a short error", len(err.Error()))
	}
}

func TestExtractEnvKeepsCallerSpanOnError(t *testing.T) {
	parent := testSpanContext(t)
	ctx := trace.ContextWithSpanContext(context.Background(), parent)
	got, err := propagate.ExtractEnv(ctx, w3c(), []string{"TRACEPARENT=garbage", "BAGGAGE=k=v"})
	if !errors.Is(err, propagate.ErrInvalidCarrier) {
		t.Fatalf("err = %v, want ErrInvalidCarrier", err)
	}
	if sc := trace.SpanContextFromContext(got); !sc.Equal(parent) {
		t.Errorf("span context = %v, want the caller's %v", sc, parent)
	}
	if m := baggage.FromContext(got).Member("k"); m.Value() != "v" {
		t.Errorf("baggage member k = %q, want v", m.Value())
	}

	// A valid carrier replaces the caller's span, as p.Extract does.
	remote := "00-" + strings.Repeat("1", 32) + "-" + strings.Repeat("2", 16) + "-00"
	got, err = propagate.ExtractEnv(ctx, w3c(), []string{"TRACEPARENT=" + remote})
	if err != nil {
		t.Fatal(err)
	}
	if sc := trace.SpanContextFromContext(got); sc.TraceID().String() != strings.Repeat("1", 32) || sc.IsSampled() {
		t.Errorf("span context = %v, want the carrier's", sc)
	}
}

func TestEnvRoundTrip(t *testing.T) {
	for _, names := range [][]string{
		{"tracecontext", "baggage"},
		{"baggage", "tracecontext"},
		{"b3"},
		{"b3multi", "baggage"},
		{"jaeger"},
		{"ottrace"},
		{"xray"},
	} {
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			p := named(t, names...)
			first := propagate.InjectEnv(testContext(t), p, []string{"A=1"})
			ctx, err := propagate.ExtractEnv(context.Background(), p, first)
			if err != nil {
				t.Fatalf("ExtractEnv(%q): %v", first, err)
			}
			// ottrace keeps only the low 64 bits of the trace id.
			if sc := trace.SpanContextFromContext(ctx); !strings.HasSuffix(testTraceID, strings.TrimLeft(sc.TraceID().String(), "0")) || sc.SpanID().String() != testSpanID {
				t.Fatalf("extracted %v from %q", sc, first)
			}
			second := propagate.InjectEnv(ctx, p, first)
			if names[0] == "ottrace" {
				// ottrace's baggage does not survive an environment: the Go
				// propagator reads only ot-baggage- keys, and environment
				// names have underscores. Stripped as stale, it is gone.
				first = slices.DeleteFunc(first, func(kv string) bool { return strings.HasPrefix(kv, "OT_BAGGAGE_") })
			}
			if !slices.Equal(first, second) {
				t.Errorf("env → ctx → env changed the environment:\n%q\n%q", first, second)
			}
		})
	}
}

func TestFormatEnv(t *testing.T) {
	got := propagate.FormatEnv(testContext(t), named(t, "baggage", "tracecontext"))
	want := "TRACEPARENT=" + testTraceparent + "\nTRACESTATE=" + testTracestate + "\nBAGGAGE=" + testBaggage + "\n"
	if got != want {
		t.Errorf("FormatEnv =\n%s\nwant\n%s", got, want)
	}
	got = propagate.FormatEnv(testContext(t), named(t, "b3multi", "baggage"))
	want = "BAGGAGE=" + testBaggage + "\nX_B3_SAMPLED=1\nX_B3_SPANID=" + testSpanID + "\nX_B3_TRACEID=" + testTraceID + "\n"
	if got != want {
		t.Errorf("FormatEnv b3multi =\n%s\nwant\n%s", got, want)
	}
	got = propagate.FormatEnv(testContext(t), w3c())
	want = "TRACEPARENT=" + testTraceparent + "\nTRACESTATE=" + testTracestate + "\nBAGGAGE=" + testBaggage + "\n"
	if got != want {
		t.Errorf("FormatEnv =\n%s\nwant\n%s", got, want)
	}
	if got := propagate.FormatEnv(context.Background(), w3c()); got != "" {
		t.Errorf("FormatEnv without context = %q, want empty", got)
	}
}
