package cmd

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// newLogger returns the launcher's logger: warnings and errors by default,
// OTEL_LOG_LEVEL when set, debug with --verbose.
func newLogger(w io.Writer, verbose bool, environ []string) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(strings.TrimSpace(lookupEnv(environ, "OTEL_LOG_LEVEL"))) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	if verbose {
		level = slog.LevelDebug
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("component", "otel-qrun")
}

func lookupEnv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// loadConfig resolves the configuration of a command with envconfig flags.
func loadConfig(c *cobra.Command, environ []string) (*envconfig.Config, error) {
	cfg, err := envconfig.Load(c.Flags(), environ)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}
