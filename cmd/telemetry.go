package cmd

import (
	"context"
	"io"
	"log/slog"

	"github.com/otel-qrun/otel-qrun/internal/redact"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/propagate"
)

// startTelemetry sets up the launcher's own SDK from environ for a command
// and returns it with ctx continuing the inherited carrier (a malformed one
// is reported and ignored: spans start a new trace; with OTEL_SDK_DISABLED
// nothing is injected, so nothing is reported), and the bounded shutdown for
// the caller to defer. A bad OTEL_* setting is exit 2. log carries no
// component: the SDK's lines name theirs (otel, telemetry).
func startTelemetry(ctx context.Context, f *factory, environ []string, log *slog.Logger,
	opts ...telemetry.Option,
) (*telemetry.SDK, context.Context, func(), error) {
	opts = append([]telemetry.Option{
		telemetry.WithEnviron(environ),
		telemetry.WithErrorWriter(f.IO.ErrOut),
		telemetry.WithLogger(log),
		telemetry.WithServiceName("otel-qrun"),
	}, opts...)
	sdk, err := telemetry.Setup(ctx, opts...)
	if err != nil {
		return nil, ctx, nil, &exitError{code: exitUsage, err: err}
	}
	log = log.With("component", "otel-qrun") // the SDK's lines carry their own
	shutdown := func() {
		if err := sdk.Shutdown(context.WithoutCancel(ctx)); err != nil {
			log.Debug("telemetry shutdown", "error", err)
		}
	}
	ctx, xerr := propagate.ExtractEnv(ctx, sdk.Propagator, environ)
	if xerr != nil && !sdk.Disabled {
		log.Warn("ignoring the inherited trace context; spans start a new trace", "error", xerr)
	}
	return sdk, ctx, shutdown, nil
}

// newLogger returns the launcher's logger: warnings and errors by default,
// OTEL_LOG_LEVEL when set, debug with --verbose. Every record passes through
// the redaction of environ's secrets (internal/redact) before it is
// formatted, so no log line of the launcher, and none of the OpenTelemetry
// SDK (which logs through it), shows a secret.
func newLogger(w io.Writer, verbose bool, environ []string) *slog.Logger {
	// An invalid OTEL_LOG_LEVEL leaves warn here; telemetry.Setup then
	// rejects it as a configuration error.
	level := slog.LevelWarn
	if l, ok, err := telemetry.LogLevel(environ); ok && err == nil {
		level = l
	}
	if verbose {
		level = slog.LevelDebug
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(redact.NewHandler(h, redact.New(environ)))
}
