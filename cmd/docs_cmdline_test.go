package cmd

import (
	"fmt"
	"strings"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// The static check of the documentation's otel-qrun command lines, against
// the command tree: internal/doctest finds the command lines
// (doctest.Invocations) and calls checkInvocation with each.

// checkInvocation parses args as otel-qrun would, against a fresh command
// tree: the subcommand, its flags and their values, and its arguments.
func checkInvocation(args []string) error {
	root := Command()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SuggestionsMinimumDistance = 2
	c, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	c.InitDefaultHelpFlag()
	c.InitDefaultVersionFlag()
	if err := c.ParseFlags(rest); err != nil {
		return fmt.Errorf("%s: %w", c.CommandPath(), err)
	}
	pos := c.Flags().Args()
	if c == root && len(pos) > 0 && c.Flags().ArgsLenAtDash() != 0 {
		if s := root.SuggestionsFor(pos[0]); len(s) > 0 {
			return fmt.Errorf("%q runs as the worker command, but looks like the subcommand %s misspelled (use -- before a command of that name)", pos[0], strings.Join(s, ", "))
		}
	}
	if err := c.ValidateArgs(pos); err != nil {
		return fmt.Errorf("%s: %w", c.CommandPath(), err)
	}
	if c.Flags().Lookup("workers") != nil && !c.Flags().Changed("config") {
		// The values of the envconfig flags, checked as the command does.
		if _, err := envconfig.Load(c.Flags(), nil); err != nil {
			return fmt.Errorf("%s: %w", c.CommandPath(), err)
		}
	}
	return nil
}
