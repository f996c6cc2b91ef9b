package cmd

import (
	"fmt"
	"io"

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
