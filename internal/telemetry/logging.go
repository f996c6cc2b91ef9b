package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// LogLevel returns the level OTEL_LOG_LEVEL in environ (NAME=value
// entries, the last one wins) asks for: debug, info, warn (or warning) or
// error, in any case. ok is false when it is unset or empty. An unknown
// value is an error that wraps ErrConfig and names the accepted values.
// [Setup] reads the variable the same way.
func LogLevel(environ []string) (level slog.Level, ok bool, err error) {
	return parseLogLevel(parseEnviron(environ))
}

// SDKDisabled reports whether OTEL_SDK_DISABLED in environ is true (in any
// case), the setting with which [Setup] creates no SDK.
func SDKDisabled(environ []string) bool {
	return parseEnviron(environ).sdkDisabled()
}

func (e environ) sdkDisabled() bool {
	return strings.EqualFold(e.get(envSDKDisabled), "true")
}

// parseLogLevel reads OTEL_LOG_LEVEL. ok is false when it is unset.
func parseLogLevel(env environ) (level slog.Level, ok bool, err error) {
	raw := env.get(envLogLevel)
	switch strings.ToLower(raw) {
	case "":
		return slog.LevelInfo, false, nil
	case "debug":
		return slog.LevelDebug, true, nil
	case "info":
		return slog.LevelInfo, true, nil
	case "warn", "warning":
		return slog.LevelWarn, true, nil
	case "error":
		return slog.LevelError, true, nil
	default:
		return 0, false, fmt.Errorf("%w: %s=%q: unknown log level (accepted: debug, info, warn, error)", ErrConfig, envLogLevel, raw)
	}
}

// newLogger returns the SDK's logger: the base logger filtered at level when
// OTEL_LOG_LEVEL is set, or a text logger on w.
func newLogger(base *slog.Logger, w io.Writer, level slog.Level, levelSet bool) *slog.Logger {
	if base == nil {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	if !levelSet {
		return base
	}
	return slog.New(&levelHandler{min: level, next: base.Handler()})
}

// levelHandler drops records below min before its next handler sees them.
type levelHandler struct {
	min  slog.Level
	next slog.Handler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{min: h.min, next: h.next.WithAttrs(attrs)}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{min: h.min, next: h.next.WithGroup(name)}
}

// otelHandler adapts otel's internal logger, which logs through logr with
// verbosity levels (warn V(1), info V(4), debug V(8)) that logr's slog bridge
// turns into slog levels -1, -4 and -8, back to slog's warn, info and debug.
// A warning or an error it has passed on once is not passed on again: the
// exporters of each signal read the same variables, and a value they cannot
// parse (OTEL_EXPORTER_OTLP_TIMEOUT=abc) was logged once per signal.
type otelHandler struct {
	next   slog.Handler
	prefix string // the attributes and groups of WithAttrs and WithGroup
	seen   *seenRecords
}

// seenRecords is the set of records an otelHandler and its derivatives
// passed on, up to maxSeen of them (then each record is passed on).
type seenRecords struct {
	mu   sync.Mutex
	keys map[string]bool
}

const maxSeen = 1024

func newOtelHandler(next slog.Handler) *otelHandler {
	return &otelHandler{next: next, seen: &seenRecords{keys: make(map[string]bool)}}
}

// first reports whether key was not seen before, and records it.
func (s *seenRecords) first(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[key] {
		return false
	}
	if len(s.keys) < maxSeen {
		s.keys[key] = true
	}
	return true
}

func otelLevel(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelInfo:
		return l // logr's Error is slog's error; V(0) is info
	case l > slog.Level(-4):
		return slog.LevelWarn
	case l > slog.Level(-8):
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

func (h *otelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, otelLevel(l))
}

func (h *otelHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = otelLevel(r.Level)
	if r.Level >= slog.LevelWarn {
		var key strings.Builder
		key.WriteString(h.prefix)
		key.WriteString(r.Level.String())
		key.WriteByte(0)
		key.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			key.WriteByte(0)
			key.WriteString(a.String())
			return true
		})
		if !h.seen.first(key.String()) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *otelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	prefix := h.prefix
	for _, a := range attrs {
		prefix += a.String() + "\x00"
	}
	return &otelHandler{next: h.next.WithAttrs(attrs), prefix: prefix, seen: h.seen}
}

func (h *otelHandler) WithGroup(name string) slog.Handler {
	return &otelHandler{next: h.next.WithGroup(name), prefix: h.prefix + name + ".\x00", seen: h.seen}
}

// syncWriter serializes writes from the console exporters, the error
// reporter and the default logger, which all share the error writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
