package keeper

import (
	"bytes"
	"os"
)

// Env is set to "1" in the environment of the keeper. Nothing else of the
// launcher's environment is passed to it (GORACE excepted); GOMAXPROCS is 1.
const Env = "OTEL_QRUN_KEEPER"

// Protocol lines (see the package documentation).
const (
	LineCgroup = "cgroup"
	LineMark   = "mark"
	LineUnmark = "unmark"
	LineFork   = "fork"
	LineForked = "forked"
	LineDone   = "done"
)

// Running as the keeper ends the process here, before the packages that do
// not depend on this one are initialized.
func init() {
	if status, ok := Main(); ok {
		os.Exit(status)
	}
}

// CarriesMarker reports whether environ (the bytes of a
// /proc/[pid]/environ: entries ended by NUL) holds OTEL_RESOURCE_ATTRIBUTES
// with a service.instance.id attribute that is marker, as a whole entry of
// its comma-separated list (the OpenTelemetry environment variable
// specification's format). The launcher gives every worker such an id, and
// every process the worker starts inherits it: that is how a worker's tree
// is followed without cgroups, and what the keeper kills.
func CarriesMarker(environ, marker []byte) bool {
	if len(marker) == 0 {
		return false
	}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("OTEL_RESOURCE_ATTRIBUTES="))
		if !ok {
			continue
		}
		for _, attr := range bytes.Split(v, []byte{','}) {
			k, val, ok := bytes.Cut(attr, []byte{'='})
			if ok && string(bytes.TrimSpace(k)) == "service.instance.id" && bytes.Equal(bytes.TrimSpace(val), marker) {
				return true
			}
		}
	}
	return false
}
