package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// enqueueResult is what one in-process run of enqueue produced.
type enqueueResult struct {
	stdout, stderr string
	code           int
}

// runEnqueue runs the enqueue command in-process with env as its
// environment and stdin as its input.
func runEnqueue(t *testing.T, env []string, stdin string, args ...string) enqueueResult {
	t.Helper()
	var out, errb bytes.Buffer
	f := &factory{
		IO:      &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errb},
		Environ: func() []string { return env },
	}
	c := newEnqueueCmd(f)
	c.SetArgs(append([]string{}, args...))
	c.SetOut(&errb)
	c.SetErr(&errb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := 0
	if err := c.ExecuteContext(ctx); err != nil {
		code = exitCode(err)
		errb.WriteString(err.Error())
	}
	return enqueueResult{out.String(), errb.String(), code}
}

// enqueueLine is a task line as enqueue prints it.
type enqueueLine struct {
	ID      string            `json:"id"`
	Payload json.RawMessage   `json:"payload"`
	Carrier map[string]string `json:"carrier"`
}

// parseEnqueueLine checks that stdout is exactly one JSON line holding id,
// payload and carrier, and returns it.
func parseEnqueueLine(t *testing.T, stdout string) enqueueLine {
	t.Helper()
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("stdout %q is not one line", stdout)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	for _, k := range []string{"id", "payload", "carrier"} {
		if _, ok := fields[k]; !ok || len(fields) != 3 {
			t.Fatalf("task line %q: want exactly the fields id, payload, carrier", stdout)
		}
	}
	var l enqueueLine
	if err := json.Unmarshal([]byte(stdout), &l); err != nil {
		t.Fatalf("task line %q: %v", stdout, err)
	}
	// The launcher's parser reads the same task.
	task, err := taskproto.ParseLine([]byte(stdout), 1)
	if err != nil {
		t.Fatalf("task line %q: %v", stdout, err)
	}
	if task.ID != l.ID || string(task.Payload) != string(l.Payload) || len(task.Carrier) != len(l.Carrier) {
		t.Errorf("the launcher reads %+v from %q", task, stdout)
	}
	for k, v := range l.Carrier {
		if task.Carrier[k] != v {
			t.Errorf("the launcher reads carrier %v from %q", task.Carrier, stdout)
		}
	}
	return l
}

func enqueueEnv(extra ...string) []string {
	return append(append([]string{"PATH=" + os.Getenv("PATH")}, quietTelemetry...), extra...)
}

func TestEnqueuePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string // the payload as it appears in the line
	}{
		{"json object", []string{`{"to": "a@b", "n": [1, 2]}`}, "", `{"to":"a@b","n":[1,2]}`},
		{"json number", []string{"42"}, "", `42`},
		{"json string", []string{`"quoted"`}, "", `"quoted"`},
		{"text", []string{"hello world"}, "", `"hello world"`},
		{"text with markup", []string{`<a & b>`}, "", `"<a & b>"`},
		{"broken json is text", []string{`{"to":`}, "", `"{\"to\":"`},
		{"empty argument", []string{""}, "", `""`},
		{"argument wins over stdin", []string{"arg"}, "stdin\n", `"arg"`},
		{"stdin json over lines", nil, "{\n  \"to\": \"a@b\"\n}\n", `{"to":"a@b"}`},
		{"stdin text", nil, "line one\n", `"line one"`},
		{"stdin text CRLF", nil, "line one\r\n", `"line one"`},
		{"stdin keeps inner newlines", nil, "a\nb\n\n", `"a\nb\n"`},
		{"stdin without newline", nil, "x", `"x"`},
		{"empty stdin", nil, "", `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runEnqueue(t, enqueueEnv(), tt.stdin, tt.args...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			l := parseEnqueueLine(t, res.stdout)
			if string(l.Payload) != tt.want {
				t.Errorf("payload %s, want %s", l.Payload, tt.want)
			}
			if _, err := uuid.Parse(l.ID); err != nil {
				t.Errorf("default id %q is not a UUID: %v", l.ID, err)
			}
		})
	}
}

func TestEnqueueIDsAreUnique(t *testing.T) {
	t.Parallel()
	a := parseEnqueueLine(t, runEnqueue(t, enqueueEnv(), "", "x").stdout)
	b := parseEnqueueLine(t, runEnqueue(t, enqueueEnv(), "", "x").stdout)
	if a.ID == b.ID {
		t.Errorf("two tasks with the id %q", a.ID)
	}
}

func TestEnqueueCarrier(t *testing.T) {
	t.Parallel()
	t.Run("child of TRACEPARENT", func(t *testing.T) {
		res := runEnqueue(t, enqueueEnv("TRACEPARENT="+inheritedTP, "TRACESTATE=vendor=x", "BAGGAGE=tenant=acme"), "", "--id", "mail-1", "x")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		l := parseEnqueueLine(t, res.stdout)
		tp := strings.Split(l.Carrier["traceparent"], "-")
		if len(tp) != 4 || tp[1] != inheritedTrace || tp[2] == inheritedSpan || len(tp[2]) != 16 {
			t.Errorf("carrier traceparent %q: want a new span in trace %s", l.Carrier["traceparent"], inheritedTrace)
		}
		if l.Carrier["tracestate"] != "vendor=x" || l.Carrier["baggage"] != "tenant=acme" || l.ID != "mail-1" {
			t.Errorf("line %+v: want tracestate, baggage and id passed on", l)
		}
	})
	t.Run("new trace", func(t *testing.T) {
		res := runEnqueue(t, enqueueEnv(), "", "x")
		l := parseEnqueueLine(t, res.stdout)
		if tp := strings.Split(l.Carrier["traceparent"], "-"); len(tp) != 4 || tp[1] == inheritedTrace || len(tp[1]) != 32 {
			t.Errorf("carrier %v: want a new root span's context", l.Carrier)
		}
	})
	t.Run("malformed TRACEPARENT", func(t *testing.T) {
		res := runEnqueue(t, enqueueEnv("TRACEPARENT=00-garbage-01"), "", "x")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "TRACEPARENT") || !strings.Contains(res.stderr, "new trace") {
			t.Errorf("no warning about the malformed TRACEPARENT: %q", res.stderr)
		}
		l := parseEnqueueLine(t, res.stdout)
		if tp := strings.Split(l.Carrier["traceparent"], "-"); len(tp) != 4 || len(tp[1]) != 32 {
			t.Errorf("carrier %v: want a new trace", l.Carrier)
		}
	})
	t.Run("SDK disabled passes the context through", func(t *testing.T) {
		res := runEnqueue(t, enqueueEnv("OTEL_SDK_DISABLED=true", "TRACEPARENT="+inheritedTP, "TRACESTATE=vendor=x"), "", "x")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		l := parseEnqueueLine(t, res.stdout)
		if len(l.Carrier) != 2 || l.Carrier["traceparent"] != inheritedTP || l.Carrier["tracestate"] != "vendor=x" {
			t.Errorf("carrier %v, want the inherited context unchanged", l.Carrier)
		}
	})
	t.Run("SDK disabled without context", func(t *testing.T) {
		res := runEnqueue(t, enqueueEnv("OTEL_SDK_DISABLED=true"), "", "x")
		if !strings.HasSuffix(res.stdout, `,"carrier":{}}`+"\n") {
			t.Errorf("stdout %q, want an empty carrier", res.stdout)
		}
	})
}

func TestEnqueueUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"two payloads", nil, []string{"a", "b"}, "PAYLOAD"},
		{"empty name", nil, []string{"--name", "", "x"}, "--name"},
		{"empty id", nil, []string{"--id=", "x"}, "--id"},
		{"unknown flag", nil, []string{"--bogus", "x"}, "bogus"},
		{"bad Q_CLUSTER", []string{`Q_CLUSTER={"name":`}, []string{"x"}, "Q_CLUSTER"},
		{"bad Q_CLUSTER with --name", []string{`Q_CLUSTER={"name":`}, []string{"--name", "n", "x"}, "Q_CLUSTER"},
		{"bad exporter", []string{"OTEL_TRACES_EXPORTER=carrier-pigeon"}, []string{"x"}, "carrier-pigeon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runEnqueue(t, enqueueEnv(tt.env...), "", tt.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %q", res.code, res.stderr, exitUsage, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
		})
	}
}

// checkProducerSpan checks that spans hold exactly the PRODUCER span of a
// task line l enqueued with --name emails under inheritedTP.
func checkProducerSpan(t *testing.T, spans []otlptest.Span, l enqueueLine) {
	t.Helper()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1:\n%s", len(spans), otlptest.DumpSpans(spans))
	}
	s := spans[0]
	if s.Name != "send emails" || s.Kind != "producer" || s.TraceID != inheritedTrace || s.ParentSpanID != inheritedSpan {
		t.Errorf("span %q kind %s trace %s parent %s; want a PRODUCER span \"send emails\", child of %s",
			s.Name, s.Kind, s.TraceID, s.ParentSpanID, inheritedTP)
	}
	want := map[string]any{
		"messaging.system":           "otel_qrun",
		"messaging.operation.type":   "send",
		"messaging.operation.name":   "send",
		"messaging.destination.name": "emails",
		"messaging.message.id":       l.ID,
	}
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("attribute %s = %v, want %v", k, s.Attrs[k], v)
		}
	}
	if s.Resource["service.name"] != "otel-qrun" {
		t.Errorf("resource %v, want service.name otel-qrun", s.Resource)
	}
	if want := "00-" + inheritedTrace + "-" + s.SpanID + "-01"; l.Carrier["traceparent"] != want {
		t.Errorf("carrier traceparent %q, want the span's context %q", l.Carrier["traceparent"], want)
	}
}

// Not parallel: the SDK's exporters read the process environment.
func TestEnqueueProducerSpanInProcess(t *testing.T) {
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		r.Setenv(t) // the SDK's exporters read the process environment
		env := append(os.Environ(), "TRACEPARENT="+inheritedTP, "Q_CLUSTER_NAME=emails")
		res := runEnqueue(t, env, `{"to":"a@b"}`+"\n", "--id", "mail-1")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		l := parseEnqueueLine(t, res.stdout)
		if l.ID != "mail-1" || string(l.Payload) != `{"to":"a@b"}` {
			t.Errorf("line %+v", l)
		}
		// Shutdown flushed before the command returned.
		checkProducerSpan(t, r.Spans(), l)
	})
}

// TestEnqueueOverTheWire runs the built binary, so it needs enqueue
// registered in the root command.
func TestEnqueueOverTheWire(t *testing.T) {
	t.Parallel()
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		env := append([]string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0", "TRACEPARENT=" + inheritedTP,
			`Q_CLUSTER={"name":"emails","workers":2}`}, r.Env()...)
		res := runQrun(t, env, "enqueue", `{"to": "a@b"}`)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		l := parseEnqueueLine(t, res.stdout)
		if string(l.Payload) != `{"to":"a@b"}` {
			t.Errorf("payload %s", l.Payload)
		}
		if _, err := uuid.Parse(l.ID); err != nil {
			t.Errorf("id %q: %v", l.ID, err)
		}
		spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 1 }, 20*time.Second)
		checkProducerSpan(t, spans, l)
	})
	t.Run("bad Q_CLUSTER", func(t *testing.T) {
		res := runQrun(t, enqueueEnv(`Q_CLUSTER={"workers":`), "enqueue", "x")
		if res.code != exitUsage || res.stdout != "" || !strings.Contains(res.stderr, "Q_CLUSTER") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming Q_CLUSTER", res.code, res.stdout, res.stderr)
		}
	})
}

// TestEnqueueThenProcess is the shell producer of docs/protocol.md section 1: task
// lines from enqueue, run by otel-qrun --tasks. The launcher's CONSUMER span
// of each task is a child of the PRODUCER span that enqueued it. It runs the
// built binary, so it needs enqueue registered in the root command.
func TestEnqueueThenProcess(t *testing.T) {
	t.Parallel()
	r := otlptest.NewHTTP(t)
	var lines strings.Builder
	for _, payload := range []string{`{"n":1}`, `{"fail":true}`} {
		env := append([]string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0", "TRACEPARENT=" + inheritedTP}, r.Env()...)
		res := runQrun(t, env, "enqueue", "--name", "emails", payload)
		if res.code != 0 {
			t.Fatalf("enqueue: exit %d: %s", res.code, res.stderr)
		}
		lines.WriteString(res.stdout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, qrunBin, "--tasks", "-", "--name", "emails", os.Args[0])
	c.Env = helperEnv("taskworker", r.Env()...)
	c.Stdin = strings.NewReader(lines.String())
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err == nil || c.ProcessState.ExitCode() != 1 {
		t.Errorf("otel-qrun --tasks: %v, want exit status 1 (one task failed); stderr:\n%s", err, errb.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("%d result lines, want 2:\n%s", n, out.String())
	}

	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(spansNamed(s, "send emails")) == 2 && len(spansNamed(s, "process emails")) == 2
	}, 20*time.Second)
	producers := map[any]otlptest.Span{}
	for _, s := range spansNamed(spans, "send emails") {
		producers[s.Attrs["messaging.message.id"]] = s
	}
	for _, s := range spansNamed(spans, "process emails") {
		p, ok := producers[s.Attrs["messaging.message.id"]]
		if !ok || s.TraceID != inheritedTrace || s.ParentSpanID != p.SpanID || p.ParentSpanID != inheritedSpan {
			t.Errorf("CONSUMER span %s of task %v: trace %s parent %s; want a child of its PRODUCER span %s in trace %s",
				s.SpanID, s.Attrs["messaging.message.id"], s.TraceID, s.ParentSpanID, p.SpanID, inheritedTrace)
		}
	}
}
