package forkinit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

const (
	taskTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	taskSpan  = "00f067aa0ba902b7"
	taskTP    = "00-" + taskTrace + "-" + taskSpan + "-01"
)

var testProp = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// taskLine returns a task line as the launcher writes it.
func taskLine(t *testing.T, id, payload string, carrier propagate.MapCarrier) string {
	t.Helper()
	if carrier == nil {
		carrier = propagate.MapCarrier{}
	}
	return string(taskproto.AppendWorkerTask(nil, taskproto.WorkerTask{
		ID: id, Payload: json.RawMessage(payload), Carrier: carrier, Attempt: 1,
	}))
}

// serve runs Serve over input and returns the replies and the log.
func serve(t *testing.T, ctx context.Context, input string, h Handler, opts ...ServeOption) ([]taskproto.Reply, string, error) {
	t.Helper()
	var out, log bytes.Buffer
	opts = append([]ServeOption{
		WithInput(strings.NewReader(input)),
		WithReplies(&out),
		WithPropagator(testProp),
		WithServeLogger(slog.New(slog.NewTextHandler(&log, nil))),
	}, opts...)
	err := Serve(ctx, h, opts...)
	return parseReplies(t, out.Bytes()), log.String(), err
}

// parseReplies parses what Serve wrote: the readiness line first, then
// the replies, which it returns. Every reply echoes its task's attempt.
func parseReplies(t *testing.T, b []byte) []taskproto.Reply {
	t.Helper()
	var replies []taskproto.Reply
	sc := bufio.NewScanner(bytes.NewReader(b))
	for i := 0; sc.Scan(); i++ {
		r, err := taskproto.ParseReply(sc.Bytes())
		if err != nil {
			t.Fatalf("reply %q: %v", sc.Text(), err)
		}
		if r.Ready != (i == 0) {
			t.Fatalf("line %d %q: the readiness line must come first, once", i+1, sc.Text())
		}
		if i > 0 {
			replies = append(replies, r)
		}
	}
	return replies
}

// byPayload is a handler whose behaviour the payload string chooses.
func byPayload(_ context.Context, task Task) (any, error) {
	var p string
	_ = json.Unmarshal(task.Payload, &p)
	switch p {
	case "ok":
		return map[string]any{"id": task.ID, "attempt": task.Attempt}, nil
	case "nil":
		return nil, nil
	case "error":
		return "ignored", errors.New("no recipient")
	case "empty error":
		return nil, errors.New("")
	case "panic":
		panic("boom")
	case "unmarshalable":
		return make(chan int), nil
	case "raw":
		return json.RawMessage(`[1,2]`), nil
	}
	return nil, errors.New("unknown payload " + string(task.Payload))
}

func TestServeReplies(t *testing.T) {
	tests := []struct {
		payload string
		want    taskproto.Reply
	}{
		{"ok", taskproto.Reply{ID: "t", OK: true, Result: json.RawMessage(`{"attempt":1,"id":"t"}`)}},
		{"nil", taskproto.Reply{ID: "t", OK: true}},
		{"raw", taskproto.Reply{ID: "t", OK: true, Result: json.RawMessage(`[1,2]`)}},
		{"error", taskproto.Reply{ID: "t", Error: "no recipient"}},
		{"empty error", taskproto.Reply{ID: "t", Error: "handler failed"}},
		{"panic", taskproto.Reply{ID: "t", Error: "panic: boom"}},
		{"unmarshalable", taskproto.Reply{ID: "t", Error: "marshal result: json: unsupported type: chan int"}},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			// A second task follows each one: the loop carries on.
			input := taskLine(t, "t", strconv.Quote(tt.payload), nil) + taskLine(t, "next", `"nil"`, nil)
			replies, log, err := serve(t, context.Background(), input, byPayload)
			if err != nil {
				t.Fatal(err)
			}
			if len(replies) != 2 {
				t.Fatalf("%d replies, want 2: %+v", len(replies), replies)
			}
			if got := replies[0]; got.ID != tt.want.ID || got.OK != tt.want.OK || got.Error != tt.want.Error || string(got.Result) != string(tt.want.Result) {
				t.Errorf("reply %+v (result %s), want %+v (result %s)", got, got.Result, tt.want, tt.want.Result)
			}
			if r := replies[1]; r.ID != "next" || !r.OK {
				t.Errorf("reply to the next task %+v", r)
			}
			if tt.payload == "panic" && !strings.Contains(log, "serve_test.go") {
				t.Errorf("no panic stack in the log: %s", log)
			}
		})
	}
}

func TestServeWritesOneLinePerReply(t *testing.T) {
	w := &writes{}
	input := taskLine(t, "a", `"ok"`, nil) + taskLine(t, "b", `"error"`, nil)
	if err := Serve(context.Background(), byPayload, WithInput(strings.NewReader(input)), WithReplies(w)); err != nil {
		t.Fatal(err)
	}
	if len(w.got) != 3 || w.got[0] != taskproto.ReadyLine {
		t.Fatalf("%d writes, want the readiness line and one per reply: %q", len(w.got), w.got)
	}
	for _, b := range w.got {
		if strings.Count(b, "\n") != 1 || !strings.HasSuffix(b, "\n") {
			t.Errorf("write %q is not one line", b)
		}
	}
}

type writes struct{ got []string }

func (w *writes) Write(b []byte) (int, error) {
	w.got = append(w.got, string(b))
	return len(b), nil
}

func TestServeContinuesTheTasksCarrier(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	// The worker's own context (from Init) has a span and baggage that
	// must not leak into tasks.
	worker, _ := baggage.Parse("worker=w")
	ctx := baggage.ContextWithBaggage(context.Background(), worker)
	ctx, workerSpan := tp.Tracer("test").Start(ctx, "worker")
	defer workerSpan.End()

	type seen struct {
		sc       trace.SpanContext
		baggage  string
		parentOK bool
	}
	var got []seen
	h := func(ctx context.Context, task Task) (any, error) {
		_, span := tp.Tracer("test").Start(ctx, "handle "+task.ID)
		span.End()
		got = append(got, seen{sc: trace.SpanContextFromContext(ctx), baggage: baggage.FromContext(ctx).String()})
		return nil, nil
	}
	input := taskLine(t, "traced", `1`, propagate.MapCarrier{"traceparent": taskTP, "baggage": "tenant=acme"}) +
		taskLine(t, "bare", `2`, nil) +
		taskLine(t, "bad-carrier", `3`, propagate.MapCarrier{"traceparent": "00-garbage-01"})
	replies, log, err := serve(t, ctx, input, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 3 || len(got) != 3 {
		t.Fatalf("%d replies, %d handler calls, want 3", len(replies), len(got))
	}
	if sc := got[0].sc; sc.TraceID().String() != taskTrace || sc.SpanID().String() != taskSpan || !sc.IsRemote() {
		t.Errorf("handler span context %v, want the carrier's %s", sc, taskTP)
	}
	if got[0].baggage != "tenant=acme" {
		t.Errorf("handler baggage %q, want the carrier's tenant=acme only", got[0].baggage)
	}
	for _, g := range got[1:] {
		if g.sc.IsValid() || g.baggage != "" {
			t.Errorf("task without a valid carrier: span context %v baggage %q, want none (not the worker's)", g.sc, g.baggage)
		}
	}
	if !strings.Contains(log, "00-garbage-01") || !strings.Contains(log, "bad-carrier") {
		t.Errorf("malformed carrier not logged: %s", log)
	}

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans ended, want 3", len(spans))
	}
	if s := spans[0]; s.Parent().SpanID().String() != taskSpan || s.SpanContext().TraceID().String() != taskTrace {
		t.Errorf("span of the traced task: parent %v, want a child of the carrier's span", s.Parent())
	}
	for _, s := range spans[1:] {
		if s.Parent().IsValid() || s.SpanContext().TraceID() == workerSpan.SpanContext().TraceID() {
			t.Errorf("span %s: parent %v; want a new root", s.Name(), s.Parent())
		}
	}
}

func TestServeUsesTheGlobalPropagator(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer otel.SetTextMapPropagator(prev)
	var tid string
	var out bytes.Buffer
	err := Serve(context.Background(), func(ctx context.Context, _ Task) (any, error) {
		tid = trace.SpanContextFromContext(ctx).TraceID().String()
		return nil, nil
	}, WithInput(strings.NewReader(taskLine(t, "a", `1`, propagate.MapCarrier{"traceparent": taskTP}))), WithReplies(&out))
	if err != nil {
		t.Fatal(err)
	}
	if tid != taskTrace {
		t.Errorf("handler trace %q, want %s", tid, taskTrace)
	}
}

func TestServeInputEnd(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ids   []string
	}{
		{"empty", "", nil},
		{"one", taskLine(t, "a", `"nil"`, nil), []string{"a"}},
		{"last line without newline", taskLine(t, "a", `"nil"`, nil) + strings.TrimSuffix(taskLine(t, "b", `"nil"`, nil), "\n"), []string{"a", "b"}},
		{"CRLF", strings.ReplaceAll(taskLine(t, "a", `"nil"`, nil), "\n", "\r\n"), []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies, _, err := serve(t, context.Background(), tt.input, byPayload)
			if err != nil {
				t.Fatalf("Serve at the end of the input: %v, want nil", err)
			}
			var ids []string
			for _, r := range replies {
				if !r.OK {
					t.Errorf("reply %+v", r)
				}
				ids = append(ids, r.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("replies for %v, want %v", ids, tt.ids)
			}
		})
	}
}

func TestServeBadLines(t *testing.T) {
	tests := []struct {
		name, line string
		reply      string // the id of the ok:false reply, "" for none
	}{
		{"not json", "hello", ""},
		{"json array", `[1,2]`, ""},
		{"no id", `{"payload":1,"carrier":{},"attempt":1}`, ""},
		{"numeric id", `{"id":7,"payload":1,"carrier":{},"attempt":1}`, ""},
		{"blank", "  ", ""},
		{"carrier not strings", `{"id":"c","payload":1,"carrier":{"traceparent":1},"attempt":1}`, "c"},
		{"carrier not an object", `{"id":"d","payload":1,"carrier":"x","attempt":1}`, "d"},
		{"cut short after the id", `{"attempt":1,"id":"e","payload":{"to":`, "e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := func(context.Context, Task) (any, error) { called = true; return nil, nil }
			input := tt.line + "\n" + taskLine(t, "good", `1`, nil)
			replies, log, err := serve(t, context.Background(), input, h)
			if err != nil {
				t.Fatal(err)
			}
			if !called {
				t.Error("the good task after the bad line did not run")
			}
			want := 1
			if tt.reply != "" {
				want = 2
			}
			if len(replies) != want {
				t.Fatalf("replies %+v, want %d", replies, want)
			}
			if tt.reply != "" {
				if r := replies[0]; r.ID != tt.reply || r.OK || !strings.HasPrefix(r.Error, "invalid task line: ") {
					t.Errorf("reply %+v, want ok:false for %q", r, tt.reply)
				}
			} else if strings.TrimSpace(tt.line) != "" && !strings.Contains(log, "without a readable id") {
				t.Errorf("bad line not logged: %q", log)
			}
			if r := replies[len(replies)-1]; r.ID != "good" || !r.OK {
				t.Errorf("last reply %+v, want good ok", r)
			}
		})
	}
}

func TestServeStopsWhenTheContextIsDone(t *testing.T) {
	defer goleak.VerifyNone(t)

	t.Run("waiting for a task", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close() // ends the abandoned read
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, byPayload, WithInput(pr), WithReplies(io.Discard)) }()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Serve: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after the context was cancelled")
		}
	})

	t.Run("during a task", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		h := func(ctx context.Context, _ Task) (any, error) {
			cancel()
			<-ctx.Done() // the handler's context ends with Serve's
			return nil, ctx.Err()
		}
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, h, WithInput(pr), WithReplies(&out)) }()
		if _, err := io.WriteString(pw, taskLine(t, "a", `1`, nil)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", err)
		}
		if got := out.String(); !strings.Contains(got, `"id":"a"`) || !strings.Contains(got, "context canceled") {
			t.Errorf("replies %q; want the interrupted task's reply", got)
		}
	})

	t.Run("before starting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Serve(ctx, byPayload, WithInput(strings.NewReader("")), WithReplies(io.Discard)); !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", err)
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServeReplyWriteError(t *testing.T) {
	broken := errors.New("broken pipe")
	err := Serve(context.Background(), byPayload,
		WithInput(strings.NewReader(taskLine(t, "a", `"nil"`, nil)+taskLine(t, "b", `"nil"`, nil))),
		WithReplies(failWriter{broken}))
	if !errors.Is(err, broken) {
		t.Errorf("Serve: %v, want the write error of the readiness line", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestServeInputReadError(t *testing.T) {
	broken := errors.New("read failed")
	err := Serve(context.Background(), byPayload, WithInput(io.MultiReader(strings.NewReader(taskLine(t, "a", `"nil"`, nil)), failReader{broken})), WithReplies(io.Discard))
	if !errors.Is(err, broken) {
		t.Errorf("Serve: %v, want the read error", err)
	}
}

type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, r.err }

func TestServeResultFD(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv(ResultFDEnv, "")
		err := Serve(context.Background(), byPayload, WithInput(strings.NewReader("")))
		if !errors.Is(err, ErrNoResultFD) || !strings.Contains(err.Error(), "QRUN_RESULT_FD") {
			t.Errorf("Serve: %v, want ErrNoResultFD naming QRUN_RESULT_FD", err)
		}
	})
	for _, v := range []string{"three", "-1", "987654"} {
		t.Run("invalid "+v, func(t *testing.T) {
			t.Setenv(ResultFDEnv, v)
			err := Serve(context.Background(), byPayload, WithInput(strings.NewReader("")))
			if !errors.Is(err, ErrNoResultFD) || !strings.Contains(err.Error(), strconv.Quote(v)) {
				t.Errorf("Serve: %v, want ErrNoResultFD naming %q", err, v)
			}
		})
	}
	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// Serve closes the descriptor it is given: hand it a duplicate.
		fd, err := syscall.Dup(int(w.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		t.Setenv(ResultFDEnv, strconv.Itoa(fd))
		input := taskLine(t, "a", `"ok"`, nil) + taskLine(t, "b", `"error"`, nil)
		if err := Serve(context.Background(), byPayload, WithInput(strings.NewReader(input))); err != nil {
			t.Fatal(err)
		}
		// Serve closed the last write end: reading ends.
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		replies := parseReplies(t, b)
		if len(replies) != 2 || replies[0].ID != "a" || !replies[0].OK || replies[1].ID != "b" || replies[1].OK {
			t.Errorf("replies on the descriptor: %+v", replies)
		}
	})
}

func TestServeNilHandler(t *testing.T) {
	if err := Serve(context.Background(), nil, WithReplies(io.Discard)); err == nil {
		t.Error("Serve with a nil handler: nil error")
	}
}

func FuzzServe(f *testing.F) {
	f.Add(`{"id":"a","payload":1,"carrier":{"traceparent":"` + taskTP + `"},"attempt":1}` + "\n")
	f.Add(`{"id":"a","payload":"x","carrier":{},"attempt":2}` + "\nhello\n{\"id\":\"b\"")
	f.Add(`{"id":"c","carrier":{"traceparent":7}}`)
	f.Fuzz(func(t *testing.T, input string) {
		var out bytes.Buffer
		err := Serve(context.Background(), func(_ context.Context, task Task) (any, error) {
			return task.Payload, nil
		}, WithInput(strings.NewReader(input)), WithReplies(&out), WithPropagator(testProp),
			WithServeLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(input, "\n") + 1
		replies := parseReplies(t, out.Bytes())
		if len(replies) > lines {
			t.Errorf("%d replies for %d lines", len(replies), lines)
		}
	})
}
