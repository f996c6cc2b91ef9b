// Package launcher starts, supervises and stops the worker processes of
// otel-qrun.
//
// A [Launcher] runs N copies of one command, each freshly executed (fork and
// exec, never a bare fork) in its own process group, with a copy of the
// launcher's environment that carries the worker's identity and a trace
// context carrier. It restarts, recycles and scales workers like a prefork
// master, and stops them like a good PID 1: the stop signal to every process
// of the worker's tree, a grace period, then SIGKILL to the tree. A tree is
// the worker and every descendant, whatever it does (setsid, double fork):
// a cgroup v2 per worker where the launcher may create one, else found
// through /proc. With [WithKeeper], a small process of the program's own
// outlives a launcher killed with SIGKILL and kills what the trees hold.
//
// Exactly one place waits for child processes: a per-worker wait on its own
// pid, or, when the launcher is a child subreaper, a single wait4(-1) loop
// that also reaps orphans. Workers are forked from one goroutine locked to its
// OS thread for the launcher's lifetime, so PR_SET_PDEATHSIG (which follows
// the creating thread, not the process) fires only when the launcher dies.
//
// The package knows nothing of flags or configuration files; the caller maps
// its configuration onto [Option] values.
package launcher
