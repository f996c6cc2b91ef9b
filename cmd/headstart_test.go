package cmd

import (
	"strings"
	"testing"
)

// The head start is begun for the arguments that run a command, and for
// no others: a subcommand, help or the version.
func TestRunsCommand(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"-- true", true},
		{"true", true},
		{"--workers 2 -- sh -c x", true},
		{"--workers 2 sh -c x", true},
		{"-- config", true},
		// The command's own flag, judged no run: the head start is left
		// out, which changes nothing but the run's speed.
		{"true --help", false},
		{"", false},
		{"config -- true", false},
		{"--verbose config -- true", false},
		{"enqueue --help", false},
		{"help", false},
		{"completion bash", false},
		{"--help", false},
		{"-h", false},
		{"--version", false},
		{"--workers 2 --help -- true", false},
	} {
		t.Run(tc.args, func(t *testing.T) {
			root := newRootCmd(newFactory())
			got := runsCommand(root, strings.Fields(tc.args))
			if got != tc.want {
				t.Errorf("runsCommand(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}
