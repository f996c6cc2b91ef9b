package earlysig

import (
	"slices"
	"strings"
)

// Subcommands are the names of otel-qrun's subcommands, cobra's own
// included (help, completion, and the hidden __complete and
// __completeNoDesc of shell completion). A test in package cmd keeps the
// list equal to the command tree's.
var Subcommands = []string{"carrier", "completion", "config", "enqueue", "help", "version", "__complete", "__completeNoDesc"}

// LooksLikeRun reports whether otel-qrun's arguments (os.Args[1:]) look
// like a run, before the command tree exists: some arguments, and before
// "--" neither a subcommand's name nor -h, -v, --help or --version (with a
// value or not). It may err
// either way (a flag's value named like a subcommand, a command's own
// --help): what depends on it (the keeper's early start) changes how soon
// a run starts, never what it does; cmd decides with cobra (runsCommand).
func LooksLikeRun(args []string) bool {
	if len(args) == 0 {
		return false
	}
	for _, a := range args {
		switch {
		case a == "--":
			return true
		case a == "-h" || a == "--help" || a == "--version" || a == "-v" ||
			strings.HasPrefix(a, "--help=") || strings.HasPrefix(a, "--version=") || slices.Contains(Subcommands, a):
			return false
		}
	}
	return true
}
