package redact

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// NewHandler returns a slog handler that masks secrets with r before next
// sees a record: in the message, in every attribute value (strings,
// errors, and any other value as fmt prints it, which then reaches next as
// its masked text; groups too), and whole values of attributes whose keys
// look secret by the rule of variables ([SecretName]: "password", "token",
// "api_key") or of names in text ("cookie", "session", "pin", "auth"):
// the handler writes them as key=value. The attributes given to WithAttrs
// are masked once, when given.
func NewHandler(next slog.Handler, r *Redactor) slog.Handler {
	return &handler{next: next, r: r}
}

type handler struct {
	next slog.Handler
	r    *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(clean), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(h.r.String(name)), r: h.r}
}

// attr masks one attribute.
func (h *handler) attr(a slog.Attr) slog.Attr {
	a.Key = h.r.String(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindString:
		if secretKey(a.Key) && v.String() != "" {
			return slog.String(a.Key, Mask)
		}
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindAny:
		if v.Any() == nil {
			return slog.Attr{Key: a.Key, Value: v}
		}
		if secretKey(a.Key) {
			return slog.String(a.Key, Mask)
		}
		s := fmt.Sprintf("%+v", v.Any())
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		}
		if masked := h.r.String(s); masked != s {
			return slog.String(a.Key, masked)
		}
		return slog.Attr{Key: a.Key, Value: v} // formatted by next as before
	}
	if secretKey(a.Key) {
		return slog.String(a.Key, Mask)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// NewWriter returns a writer that masks secrets with r in each Write call
// before passing it to w. Every Write is masked on its own, so a caller
// writes a whole message (a log line, a span, an error line) at once, as
// fmt.Fprintf, slog handlers and JSON encoders do. Writes are serialized.
// The count returned is len(p) when w took the whole masked text.
func NewWriter(w io.Writer, r *Redactor) io.Writer {
	return &writer{w: w, r: r}
}

type writer struct {
	mu sync.Mutex
	w  io.Writer
	r  *Redactor
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(w.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// secretKey reports whether an attribute's key looks secret, by the rule
// of variables or of names in text.
func secretKey(key string) bool { return SecretName(key) || secretTextName(key) }
