// Package cmd holds the cobra command tree of otel-qrun. It is the only
// package that knows cobra, flags, exit statuses and signal.Notify; the work
// itself is done by envconfig, launcher, propagate and forkinit.
package cmd
