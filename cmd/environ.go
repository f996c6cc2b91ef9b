package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

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
