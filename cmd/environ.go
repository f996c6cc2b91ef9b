package cmd

import (
	"fmt"
	"io"
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

// loadConfig resolves the configuration of a command with envconfig flags
// and prints its warnings (unknown keys) on errOut.
func loadConfig(c *cobra.Command, environ []string, errOut io.Writer) (*envconfig.Config, error) {
	cfg, err := envconfig.Load(c.Flags(), environ)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	printWarnings(errOut, cfg)
	return cfg, nil
}

// printWarnings prints the warnings of a loaded configuration, one line
// each, as "otel-qrun: warning: ...".
func printWarnings(errOut io.Writer, cfg *envconfig.Config) {
	for _, w := range cfg.Warnings {
		fmt.Fprintln(errOut, "otel-qrun: warning: "+w)
	}
}
