// Package docgen generates the man pages and shell completions of otel-qrun
// from its cobra command tree. It is used by scripts/gendocs, which writes
// the committed man/ pages and the release's files, and by the test in cmd
// that keeps man/ fresh.
//
// It takes the command tree as an argument instead of importing cmd, so
// that tests in package cmd can use it without an import cycle.
package docgen
