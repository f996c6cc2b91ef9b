package cmd

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// writeSupervision prints how worker trees are supervised on this machine
// with these privileges, and what a launcher killed with SIGKILL may leave.
func writeSupervision(out io.Writer) {
	info := launcher.ProbeSupervision()
	fmt.Fprintln(out, "\n# supervision")
	fmt.Fprintf(out, "mechanism: %s (%s)\n", info.Mechanism, info.Detail)
	switch info.Mechanism {
	case launcher.MechanismCgroup:
		fmt.Fprintln(out, "on SIGKILL of the launcher: the keeper kills every worker's cgroup (cgroup.kill)")
	case launcher.MechanismProc:
		fmt.Fprintln(out, "on SIGKILL of the launcher: the keeper kills every process whose environment carries a worker's service.instance.id")
		fmt.Fprintln(out, "warning: without a cgroup, a descendant that replaces its environment at exec can outlive a launcher killed with SIGKILL")
	default:
		fmt.Fprintln(out, "warning: on SIGKILL of the launcher, only the workers' process groups are reached; their other descendants run on")
	}
}

// carrierVars returns, each once and sorted, the environment names of the
// carrier variables prop sets at each worker start (TRACEPARENT,
// X_B3_TRACEID).
func carrierVars(prop propagation.TextMapPropagator) []string {
	if prop == nil {
		return nil
	}
	seen := make(map[string]bool)
	var names []string
	for _, f := range prop.Fields() {
		n := strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'A'
			case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				return r
			}
			return '_'
		}, f)
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names) // the composite propagator's order is a map's
	return names
}

// withoutVars returns env without the entries of names.
func withoutVars(env, names []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}

// writeCarrierVars names, each once, the carrier variables the propagators
// set at each worker start; their values exist only then, so none is shown.
func writeCarrierVars(out io.Writer, names []string) {
	for _, n := range names {
		fmt.Fprintf(out, "+ %s (set at each start from the launcher's span for this worker)\n", n)
	}
}
