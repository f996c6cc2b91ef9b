package keeper

import "os"

// Env is set to "1" in the environment of the keeper. Nothing else of the
// launcher's environment is passed to it (GORACE excepted); GOMAXPROCS is 1.
const Env = "OTEL_QRUN_KEEPER"

// Protocol lines (see the package documentation).
const (
	LineCgroup = "cgroup"
	LineMark   = "mark"
	LineUnmark = "unmark"
	LineDone   = "done"
)

// Running as the keeper ends the process here, before the packages that do
// not depend on this one are initialized.
func init() {
	if status, ok := Main(); ok {
		os.Exit(status)
	}
}
