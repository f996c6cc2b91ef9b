// Command gendocs generates the man pages of otel-qrun from its command tree
// and, for releases, its shell completions.
//
//	go run ./scripts/gendocs -out man                  # the committed pages
//	go run ./scripts/gendocs -out build/man -gzip -completions build/completions
//
// The pages are reproducible: their date is SOURCE_DATE_EPOCH when set, else
// a fixed date, never the current time. Pages of commands that no longer
// exist are removed from the output directory.
package main
