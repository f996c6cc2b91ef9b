package forkinit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// ResultFDEnv names the environment variable in which otel-qrun gives a
// persistent task-mode worker the file descriptor for its replies. It is
// [qrun.EnvResultFD], kept here so that a worker's code that names it
// forkinit.ResultFDEnv keeps working.
const ResultFDEnv = qrun.EnvResultFD

// ErrNoResultFD is wrapped by the error of [Serve] when no reply writer was
// given and QRUN_RESULT_FD is unset or does not name an open file
// descriptor: the process is not a persistent task-mode worker of otel-qrun.
var ErrNoResultFD = errors.New("no reply channel: " + ResultFDEnv + " is not set or not an open file descriptor")

// Task is one task handed to a [Handler].
type Task struct {
	// ID is the task's id, as in the launcher's result line.
	ID string
	// Payload is the task's payload as JSON: an object, a number, or a
	// JSON string for a task line that was plain text.
	Payload json.RawMessage
	// Attempt is 1 for the first attempt, 2 for the first retry, ...
	Attempt int
}

// Handler runs one task. ctx continues the trace context of the task (the
// launcher's CONSUMER span for this attempt), so spans started from it are
// children of that span; it is cancelled when the ctx given to [Serve] is.
//
// A nil error makes the task ok, and result, when not nil, is marshaled
// with encoding/json into the reply's "result". A non-nil error fails the
// task with the error's message; result is then ignored. A panic fails the
// task too, and Serve carries on with the next one.
type Handler func(ctx context.Context, t Task) (result any, err error)

type serveConfig struct {
	in      io.Reader
	replies io.Writer
	prop    propagation.TextMapPropagator
	logger  *slog.Logger
}

// ServeOption configures [Serve].
type ServeOption func(*serveConfig)

// WithInput sets where task lines are read from (default os.Stdin).
func WithInput(r io.Reader) ServeOption { return func(c *serveConfig) { c.in = r } }

// WithReplies sets where replies are written, one JSON line each (default:
// the file descriptor named by QRUN_RESULT_FD). Each reply is one Write.
func WithReplies(w io.Writer) ServeOption { return func(c *serveConfig) { c.replies = w } }

// WithPropagator sets the propagator that extracts each task's carrier
// (default otel.GetTextMapPropagator(), which [Init] installs as
// OTEL_PROPAGATORS says).
func WithPropagator(p propagation.TextMapPropagator) ServeOption {
	return func(c *serveConfig) { c.prop = p }
}

// WithServeLogger sets the logger for problems that concern no reply, such
// as an unreadable task line or a handler's panic stack (default: text on
// os.Stderr at warn level). Logs never go to stdout or to the replies.
func WithServeLogger(l *slog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// Serve is the loop of a persistent task-mode worker (otel-qrun --tasks
// without per_task). It reads one task line at a time from stdin, calls h
// with a context continuing the task's carrier, and writes one reply line,
// {"id":…,"ok":…,"error":…,"result":…}, to the file descriptor named by
// QRUN_RESULT_FD, before it reads the next task; the reply echoes the
// task line's "attempt". Before the first task it writes the readiness line
// {"ready":true}, so the launcher charges none of the worker's start-up (the
// work done before Serve is called) to a task's timeout. The worker's stdout
// and stderr stay free for its logs.
//
// The handler's context is ctx with its trace context replaced by the
// task's: the span context and baggage of ctx (the worker's own, from
// [Init]) are dropped before the task's carrier is extracted, so a task
// without a carrier starts a new trace. A carrier that yields no valid span
// context is logged and the handler runs in a new trace.
//
// Every task line gets exactly one reply, because the launcher waits for it:
// an error or a panic of h, a result that cannot be marshaled, or a line
// that is not a valid task but whose id can still be read, gets a reply with
// "ok": false. Only a line without a recoverable id is logged and skipped.
//
// Serve returns nil when the input ends (the launcher's way to stop a
// worker), ctx.Err() when ctx is done, and an error when a reply cannot be
// written, when reading the input fails, or, before reading anything, when
// no reply writer was given and QRUN_RESULT_FD does not name an open file
// descriptor (wrapping [ErrNoResultFD]). The reply file opened from
// QRUN_RESULT_FD is closed when Serve returns. When ctx is done, Serve does
// not wait for the input: a read in progress ends when the input is closed.
func Serve(ctx context.Context, h Handler, opts ...ServeOption) error {
	if h == nil {
		return errors.New("forkinit: serve: nil handler")
	}
	cfg := serveConfig{in: os.Stdin}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.in == nil {
		cfg.in = os.Stdin
	}
	if cfg.prop == nil {
		cfg.prop = otel.GetTextMapPropagator()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.logger = cfg.logger.With("component", "forkinit")
	if cfg.replies == nil {
		f, err := resultFile(os.Getenv(ResultFDEnv))
		if err != nil {
			return fmt.Errorf("forkinit: serve: %w", err)
		}
		defer f.Close()
		cfg.replies = f
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &server{cfg: cfg, h: h}
	// The readiness line: the worker's start-up is over, so the launcher
	// starts the clock of its tasks' timeouts from now on.
	if err := s.reply(taskproto.Reply{Ready: true}); err != nil {
		return err
	}
	return s.loop(ctx)
}

// resultFile opens the reply channel named by the value of QRUN_RESULT_FD.
func resultFile(v string) (*os.File, error) {
	if v == "" {
		return nil, fmt.Errorf("%w (run the worker with otel-qrun --tasks, or give WithReplies)", ErrNoResultFD)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("%w: %s=%q is not a file descriptor number", ErrNoResultFD, ResultFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), ResultFDEnv+"="+v)
	if f == nil {
		return nil, fmt.Errorf("%w: %s=%q", ErrNoResultFD, ResultFDEnv, v)
	}
	if _, err := f.Stat(); err != nil {
		// Not open: do not Close, the number may be reused meanwhile.
		return nil, fmt.Errorf("%w: %s=%q: %w", ErrNoResultFD, ResultFDEnv, v, err)
	}
	return f, nil
}

type server struct {
	cfg serveConfig
	h   Handler
	buf []byte // reply buffer, reused
}

// line is one read of the input: a line without its '\n', or the error
// that ended the input.
type line struct {
	b   []byte
	err error
}

func (s *server) loop(ctx context.Context) error {
	lines := make(chan line)
	stop := make(chan struct{})
	defer close(stop)
	// The reader owns the input; it ends at the input's end or error, or
	// when stop is closed while it waits to hand over a line.
	go func() {
		defer close(lines)
		r := bufio.NewReader(s.cfg.in)
		for {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 {
				if b[len(b)-1] == '\n' {
					b = b[:len(b)-1]
				}
				select {
				case lines <- line{b: b}:
				case <-stop:
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					select {
					case lines <- line{err: err}:
					case <-stop:
					}
				}
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l, ok := <-lines:
			if !ok {
				return nil
			}
			if l.err != nil {
				return fmt.Errorf("forkinit: serve: read task: %w", l.err)
			}
			if err := s.handleLine(ctx, l.b); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// handleLine runs the task of one line and writes its reply. Only a failed
// write is an error.
func (s *server) handleLine(ctx context.Context, b []byte) error {
	if len(trimSpace(b)) == 0 {
		s.cfg.logger.Warn("skipping an empty task line")
		return nil
	}
	wt, err := taskproto.ParseWorkerTask(b)
	if err != nil {
		id := recoverID(b)
		if id == "" {
			s.cfg.logger.Error("skipping a task line without a readable id", "error", err, "line", truncate(b, 200))
			return nil
		}
		return s.reply(taskproto.Reply{ID: id, Error: "invalid task line: " + err.Error()})
	}
	return s.reply(s.run(ctx, wt))
}

// run calls the handler for one task and returns its reply.
func (s *server) run(ctx context.Context, wt taskproto.WorkerTask) (r taskproto.Reply) {
	r.ID, r.Attempt = wt.ID, wt.Attempt
	ctx = baggage.ContextWithoutBaggage(trace.ContextWithSpanContext(ctx, trace.SpanContext{}))
	ctx, xerr := propagate.ExtractMap(ctx, s.cfg.prop, wt.Carrier)
	if xerr != nil {
		s.cfg.logger.Warn("ignoring the task's trace context; the task starts a new trace", "task", wt.ID, "error", xerr)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			s.cfg.logger.Error("task handler panicked", "task", wt.ID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			r = taskproto.Reply{ID: wt.ID, Error: fmt.Sprintf("panic: %v", v)}
		}
	}()
	result, err := s.h(ctx, Task{ID: wt.ID, Payload: wt.Payload, Attempt: wt.Attempt})
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "handler failed"
		}
		r.Error = msg
		return r
	}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			r.Error = "marshal result: " + err.Error()
			return r
		}
		if string(b) != "null" {
			r.Result = b
		}
	}
	r.OK = true
	return r
}

func (s *server) reply(r taskproto.Reply) error {
	s.buf = taskproto.AppendReply(s.buf[:0], r)
	if _, err := s.cfg.replies.Write(s.buf); err != nil {
		return fmt.Errorf("forkinit: serve: write reply for task %q: %w", r.ID, err)
	}
	return nil
}

// recoverID returns the "id" of a line that is not a valid task but starts
// as a JSON object whose members up to a string "id" can be read (a line
// with a carrier that is not an object of strings, or one cut short after
// its id), or "".
func recoverID(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if k == "id" {
			var id string
			if dec.Decode(&id) != nil {
				return ""
			}
			return id
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
