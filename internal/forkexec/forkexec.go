// Package forkexec starts processes with [syscall.ForkExec] in a way that
// cannot hang on a child stopped before its exec.
//
// On Linux, Go's ForkExec forks with vfork semantics (clone(2) with
// CLONE_VFORK): the forking thread waits until the child has executed its
// program, or died. The child blocks every signal from the fork until just
// before its exec; a stop signal sent to it meanwhile (a ^Z typed while it
// still belonged to its parent's process group, or after it took the
// terminal's foreground with SysProcAttr.Foreground) is then taken, and the
// child stops short of its exec. Nothing continues it: the parent's thread
// waits for an exec that never comes, and the launcher hung until SIGKILL.
//
// [ForkExec] watches the fork: when it has not returned within [Stall], the
// newest child of the forking thread, if stopped and still running the
// parent's executable (so before its exec), is continued with SIGCONT, and
// the signal that stopped it is returned, for the caller to hand on once
// the program runs (a worker that holds the terminal: the stop was meant
// for it). It depends on the standard library alone, so that a package
// initialized among the first (internal/keeper, which starts the keeper
// during otel-qrun's initialization) stays among the first.
package forkexec

import "time"

// Stall is how long ForkExec lets a fork wait before it looks for a child
// stopped before its exec, and then again at that interval. A fork and exec
// takes a millisecond or two.
const Stall = 100 * time.Millisecond
