package propagate_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/iotest"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

// otelCLIRead mimics how otel-cli (w3c/traceparent LoadFromFile) reads a
// --tp-carrier file: the first non-comment line that contains
// "TRACEPARENT", with "export " and "TRACEPARENT=" trimmed.
func otelCLIRead(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(strings.ToUpper(line), "TRACEPARENT") {
			line = strings.TrimPrefix(line, "export ")
			return strings.TrimPrefix(line, "TRACEPARENT=")
		}
	}
	return ""
}

func TestFormatShell(t *testing.T) {
	ctx := testContext(t)
	got := propagate.FormatShell(ctx, propagation.TraceContext{})
	// The exact output of `otel-cli span --tp-export` for this span, but
	// with TRACESTATE.
	want := "# trace id: " + testTraceID + "\n" +
		"#  span id: " + testSpanID + "\n" +
		"export TRACEPARENT=" + testTraceparent + "\n" +
		"export TRACESTATE=" + testTracestate + "\n"
	if got != want {
		t.Errorf("FormatShell =\n%s\nwant\n%s", got, want)
	}

	// TRACEPARENT comes first even when the propagators list baggage
	// first and the baggage mentions "traceparent", so otel-cli finds it.
	b, err := baggage.Parse("traceparent=x;y,k=it's")
	if err != nil {
		t.Fatal(err)
	}
	ctx = baggage.ContextWithBaggage(ctx, b)
	got = propagate.FormatShell(ctx, named(t, "baggage", "tracecontext"))
	if tp := otelCLIRead(got); tp != testTraceparent {
		t.Errorf("otel-cli would read %q from\n%s", tp, got)
	}
	lines := strings.Split(got, "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[4], "export BAGGAGE=") {
		t.Errorf("FormatShell =\n%s", got)
	}

	if got := propagate.FormatShell(context.Background(), w3c()); got != "" {
		t.Errorf("FormatShell without context = %q, want empty", got)
	}
	got = propagate.FormatShell(testContext(t), named(t, "b3multi"))
	want = "# trace id: " + testTraceID + "\n#  span id: " + testSpanID + "\n" +
		"export X_B3_SAMPLED=1\nexport X_B3_SPANID=" + testSpanID + "\nexport X_B3_TRACEID=" + testTraceID + "\n"
	if got != want {
		t.Errorf("FormatShell b3multi =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteShell(t *testing.T) {
	var buf bytes.Buffer
	err := propagate.WriteShell(&buf, map[string]string{
		"Z":           "plain-value_1.2:3/4@5%6+7,8=9",
		"TRACEPARENT": testTraceparent,
		"BAGGAGE":     "a=b;c",
		"EMPTY":       "",
		"QUOTE":       "it's",
		"NL":          "a\nb",
		"lower":       "$HOME `x` ~",
		"BYTES":       "\xff\xfe",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "export TRACEPARENT=" + testTraceparent + "\n" +
		"export BAGGAGE='a=b;c'\n" +
		"export BYTES='\xff\xfe'\n" +
		"export EMPTY=\n" +
		"export NL='a\nb'\n" +
		"export QUOTE='it'\\''s'\n" +
		"export Z=plain-value_1.2:3/4@5%6+7,8=9\n" +
		"export lower='$HOME `x` ~'\n"
	if got := buf.String(); got != want {
		t.Errorf("WriteShell =\n%s\nwant\n%s", got, want)
	}

	for _, vars := range []map[string]string{
		{"1A": "x"},
		{"A-B": "x"},
		{"": "x"},
		{"A": "nul\x00byte"},
	} {
		buf.Reset()
		if err := propagate.WriteShell(&buf, vars); err == nil || buf.Len() != 0 {
			t.Errorf("WriteShell(%q) = %v, wrote %q; want an error and nothing written", vars, err, buf.String())
		}
	}
	if err := propagate.WriteShell(iotest.TruncateWriter(&buf, 0), map[string]string{"A": "b"}); err != nil {
		t.Errorf("WriteShell to a truncating writer: %v", err)
	}
	if err := propagate.WriteShell(errWriter{}, map[string]string{"A": "b"}); !errors.Is(err, errWrite) {
		t.Errorf("WriteShell error = %v, want the writer's", err)
	}
}

var errWrite = errors.New("disk full")

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestParseShell(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{
			name: "otel-cli --tp-carrier file",
			in:   "# trace id: " + testTraceID + "\n#  span id: " + testSpanID + "\nTRACEPARENT=" + testTraceparent + "\n",
			want: map[string]string{"TRACEPARENT": testTraceparent},
		},
		{
			name: "otel-cli --tp-export output",
			in:   "# trace id: " + testTraceID + "\n#  span id: " + testSpanID + "\nexport TRACEPARENT=" + testTraceparent + "\n",
			want: map[string]string{"TRACEPARENT": testTraceparent},
		},
		{name: "empty", in: "", want: map[string]string{}},
		{name: "blank and comments", in: "\n  \n\t# x=y\n#\n", want: map[string]string{}},
		{name: "no final newline", in: "A=1", want: map[string]string{"A": "1"}},
		{name: "CRLF", in: "export A=1\r\nB='2'\r\n", want: map[string]string{"A": "1", "B": "2"}},
		{name: "indent and trailing comment", in: "  \texport\t A=1   # the A\nB=2#3\n", want: map[string]string{"A": "1", "B": "2#3"}},
		{name: "empty value", in: "A=\nB=''\nC=\"\"\n", want: map[string]string{"A": "", "B": "", "C": ""}},
		{name: "later wins", in: "A=1\nexport A=2\n", want: map[string]string{"A": "2"}},
		{name: "single quotes", in: `A='a b;c$d"e\f'`, want: map[string]string{"A": `a b;c$d"e\f`}},
		{name: "quoted quote", in: `A='it'\''s'`, want: map[string]string{"A": "it's"}},
		{name: "double quotes", in: `A="a 'b' \$c \"d\" \\e \f"`, want: map[string]string{"A": `a 'b' $c "d" \e \f`}},
		{name: "backslashes", in: `A=a\ b\;c\\d`, want: map[string]string{"A": `a b;c\d`}},
		{name: "concatenation", in: `A=a'b'"c"d`, want: map[string]string{"A": "abcd"}},
		{name: "multi-line single quote", in: "A='x\ny'\nB=2\n", want: map[string]string{"A": "x\ny", "B": "2"}},
		{name: "line continuation", in: "A=x\\\ny\n", want: map[string]string{"A": "xy"}},
		{name: "lower-case name kept as written", in: "traceparent=x\n_a1=y", want: map[string]string{"traceparent": "x", "_a1": "y"}},
		{name: "name export", in: "export=1\nexportX=2", want: map[string]string{"export": "1", "exportX": "2"}},
		{name: "literal characters", in: "A=a~b*c?[d]{e}!f=g\n", want: map[string]string{"A": "a~b*c?[d]{e}!f=g"}},
		{name: "non-UTF-8", in: "A=\xff\xfe\nB='\xc3'\n", want: map[string]string{"A": "\xff\xfe", "B": "\xc3"}},
		{name: "huge value", in: "A=" + strings.Repeat("x", 1<<20), want: map[string]string{"A": strings.Repeat("x", 1<<20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := propagate.ParseShell(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseShell(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseShell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseShellErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"A=1\nB='x\n\n", "line 2: unterminated single quote"},
		{"\n\nA=\"x\n", "line 3: unterminated double quote"},
		{"A=\"x\\", "line 1: unterminated double quote"},
		{"A=1\nTRACEPARENT\n", `line 2: missing '=' after "TRACEPARENT"`},
		{"# c\n00-" + testTraceID + "-" + testSpanID + "-01\n", "line 2: missing '='"},
		{"A=1\n\nexport\n", "line 3: export without NAME=VALUE"},
		{"export   # nothing\n", "line 1: export without NAME=VALUE"},
		{"export A\n", `line 1: missing '=' after "A"`},
		{"A =1", `line 1: missing '=' after "A"`},
		{"1A=x", `line 1: invalid variable name "1A"`},
		{"A=1\n\nX-B3=x", `line 3: invalid variable name "X-B3"`},
		{"=x", `line 1: invalid variable name ""`},
		{"'A'=x", `line 1: invalid variable name "'A'"`},
		{"A=1 B=2", `line 1: unexpected 'B' after the value of A`},
		{"A=1; B=2", `line 1: unsupported shell operator ';'`},
		{"A='x\ny' z", `line 2: unexpected 'z' after the value of A`},
		{"A=$HOME", `line 1: unsupported expansion '$'`},
		{"A=$(id)", `line 1: unsupported expansion '$'`},
		{"A=`id`", "line 1: unsupported expansion '`'"},
		{"A=\"$HOME\"", `line 1: unsupported expansion '$' in double quotes`},
		{"A=~/x", `line 1: unsupported tilde expansion`},
		{"A=x:~/y", `line 1: unsupported tilde expansion`},
		{"A=x|y", `line 1: unsupported shell operator '|'`},
		{"A=(x)", `line 1: unsupported shell operator '('`},
		{"A=x\\", `line 1: backslash at end of input`},
		{"A=x\x00y", `line 1: NUL byte`},
		{"A='x\x00y'", `line 1: NUL byte`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := propagate.ParseShell(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseShell(%q) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
	_, err := propagate.ParseShell(iotest.ErrReader(errWrite))
	if !errors.Is(err, errWrite) {
		t.Errorf("ParseShell of a failing reader: %v", err)
	}
}

func TestExtractShell(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantErr  error
		wantSpan bool
	}{
		{name: "otel-cli file", in: "# trace id: x\n#  span id: y\nexport TRACEPARENT=" + testTraceparent + "\n", wantSpan: true},
		{name: "quoted", in: "TRACEPARENT='" + testTraceparent + "'\nTRACESTATE=\"" + testTracestate + "\"\n", wantSpan: true},
		{name: "empty", in: ""},
		{name: "lower-case name is not the field", in: "traceparent=" + testTraceparent},
		{name: "malformed", in: "export TRACEPARENT=00-1-2-01\nexport BAGGAGE='a=b'\n", wantErr: propagate.ErrInvalidCarrier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := propagate.ExtractShell(context.Background(), w3c(), strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			sc := trace.SpanContextFromContext(ctx)
			if sc.IsValid() != tt.wantSpan {
				t.Fatalf("span context valid = %v, want %v", sc.IsValid(), tt.wantSpan)
			}
			if tt.wantSpan && (sc.TraceID().String() != testTraceID || sc.SpanID().String() != testSpanID || !sc.IsRemote()) {
				t.Errorf("span context = %v", sc)
			}
		})
	}
	ctx, err := propagate.ExtractShell(context.Background(), w3c(), strings.NewReader("export TRACEPARENT=00-1-2-01\nexport BAGGAGE='a=b'\n"))
	if err == nil || baggage.FromContext(ctx).Member("a").Value() != "b" {
		t.Errorf("malformed carrier: err %v, baggage %v", err, baggage.FromContext(ctx))
	}
	ctx, err = propagate.ExtractShell(context.Background(), w3c(), strings.NewReader("TRACEPARENT='unterminated"))
	if err == nil || errors.Is(err, propagate.ErrInvalidCarrier) || trace.SpanContextFromContext(ctx).IsValid() {
		t.Errorf("syntax error: %v", err)
	}
}

func TestShellRoundTrip(t *testing.T) {
	// One member (baggage.String has no fixed order), with a quote.
	b, err := baggage.Parse("note=it%27s%20ok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := baggage.ContextWithBaggage(testContext(t), b)
	for _, names := range [][]string{{"tracecontext", "baggage"}, {"baggage", "tracecontext"}, {"b3"}, {"b3multi"}, {"jaeger"}, {"xray"}} {
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			p := named(t, names...)
			first := propagate.FormatShell(ctx, p)
			ctx2, err := propagate.ExtractShell(context.Background(), p, strings.NewReader(first))
			if err != nil {
				t.Fatalf("ExtractShell(%q): %v", first, err)
			}
			if sc := trace.SpanContextFromContext(ctx2); sc.TraceID().String() != testTraceID || sc.SpanID().String() != testSpanID {
				t.Fatalf("extracted %v from\n%s", sc, first)
			}
			if second := propagate.FormatShell(ctx2, p); second != first {
				t.Errorf("shell → ctx → shell:\n%s\nthen\n%s", first, second)
			}
			// The output is also what ParseShell returns for FormatEnv's
			// variables.
			vars, err := propagate.ParseShell(strings.NewReader(first))
			if err != nil {
				t.Fatal(err)
			}
			env := propagate.FormatEnv(ctx, p)
			for name, value := range vars {
				if !strings.Contains(env, name+"="+value+"\n") {
					t.Errorf("FormatEnv\n%s\nlacks %s=%s", env, name, value)
				}
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":              "''",
		"plain-word_1":  "plain-word_1",
		"a=b:c,d/e.f@g": "a=b:c,d/e.f@g",
		"two words":     "'two words'",
		"it's":          `'it'\''s'`,
		`{"k":"v"}`:     `'{"k":"v"}'`,
	} {
		if got := propagate.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
