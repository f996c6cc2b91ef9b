// Package qrun holds the names and defaults of otel-qrun's contract with
// workers and users, defined once for every package that needs them: the
// QRUN_* environment variables a worker reads, the values of the restart and
// instrument keys, and the default of every setting that the configuration
// (package envconfig) and the launcher (package launcher) both have.
//
// The package is a leaf: it imports only the standard library and no other
// package of otel-qrun, so a worker's library (package forkinit), the
// launcher, the configuration and the zero-code bootstraps (package
// instrument) can all import it without pulling in one another. The task
// protocol that uses these names is specified in docs/protocol.md.
package qrun
