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
// Exactly one place waits for child processes: one goroutine watching a
// pidfd per worker (from the fork itself) in an epoll set that sits in the
// Go runtime's poller, reaping exactly that pid when it exits (a wait per
// pid where pidfds are missing), or, when the launcher is a child
// subreaper, a single wait4(-1) loop that also reaps orphans. Either way
// the threads do not grow with the workers. Workers are forked from one goroutine locked to its
// OS thread for the launcher's lifetime, so PR_SET_PDEATHSIG (which follows
// the creating thread, not the process) fires only when the launcher dies.
// A per-task start does not wait for that thread: the loop goes on and
// takes the fork's result as an event (pertask.go).
//
// # Supervision loop
//
// A run's state (run.go) belongs to whoever holds its mutex: the loop,
// which holds it except while it waits on one select for events (process
// exits, signals, the context, timers, each of which hands a function to
// the loop that checks that what it names is still current, task reads
// and the result writer), or a persistent worker's reply reader, which
// takes it to handle the replies one read gave in place: the next task
// line goes out from the reader's own thread, with no hop to the loop (the
// persistent path's cost is mostly such hops, see the Benchmarks section
// of the README). A handler only updates state; after every event (or
// every few task reads that were ready together, up to 64) the holder
// calls settle, the one decision point, which decides in a fixed order:
//
//  1. replacements: a worker marked to stop (timeout, bad reply, closed
//     fd 3, start_timeout) stops now; one marked to go after its task
//     (recycle, max_rss, scale-down) stops once it holds none; an empty
//     slot that is due gets its worker;
//  2. dispatch: queued tasks go to free slots, oldest first;
//  3. finish: with no task left (or the stop's grace over), the workers
//     are stopped; the loop ends when no process is left.
//
// So a worker to replace is stopped before any task could go to it, and no
// handler dispatches or finishes on its own. What differs between plain
// workers, persistent task workers and per-task processes is behind the
// mode interface (mode.go, persistent.go, pertask.go); the exit decision
// (status) is one function for all modes.
//
// # Slot states
//
// Each slot (a QRUN_WORKER_INDEX) is in one state (slot.go):
//
//	empty ──start──► starting ──readiness line or first reply──► ready
//	  ▲                 │                                          │  ▲
//	  │                 │ task (while the run does not know        │  │ the attempt ends:
//	  │                 │ that its workers announce readiness)     │  │ reply, timeout,
//	  │                 └───────────────► busy ◄──────── task ─────┘  │ bad reply, fd 3 EOF
//	  │ exit                               └──────────────────────────┘
//	stopping ◄── stop (timeout, replace, retire, end of input, SIGTERM):
//	             from starting, ready or busy
//
// A per-task slot goes empty → (launching: its process is being forked;
// not free, no worker yet) → ready (process started for a task) → busy →
// empty at its exit. A slot holds an ordered queue of attempts in flight,
// up to prefetch (WithPrefetch), written to the worker ahead of its
// replies; new tasks go to the slot holding the fewest. An attempt is named
// by (task id, attempt number, run-wide serial); a reply is credited only to
// the head attempt of its own process, matching the task id (and the
// attempt, when the worker echoes it), and a timer only to the clock it was
// armed for. Only the head's timeout clock runs: the next attempt's starts
// when the head ends. Any other reply or timer is stale: dropped and counted
// (qrun.task.stale_events). When a worker exits, its head attempt ends by
// the usual rules and the attempts behind it are queued again, in order,
// without an attempt charged; so are they, at the next settle, when the
// worker is condemned (a timeout, a broken protocol, a failed start), and a
// condemned worker is credited no further reply.
//
// A persistent worker's exit is handled only once its reply pipe has been
// read to its end, so a reply written just before the exit always counts.
// A task line the worker never read (still whole in its stdin pipe at its
// exit or at the end of its fd 3, or not written at all because it closed
// its stdin) is queued again without a charge when the worker has answered
// a task before: it left after its last answer, like a worker with a
// request limit.
//
// Stopping a persistent worker is cooperative first: its stdin is closed
// (the protocol's "finish, flush, exit"), stop_grace later the stop signal,
// stop_grace after that SIGKILL. A timeout or a broken protocol skips the
// first step; a launcher stop (SIGTERM) keeps its contract: the tasks in
// flight get stop_grace, then the stop signal, then SIGKILL, and a second
// SIGTERM kills at once. A first SIGTERM during a stop the launcher began
// by itself (end of input, give-up, closed output) lets it go on.
//
// Task input comes through a taskSource and results leave through a
// resultSink, written by their own goroutine: a stuck output pauses the
// reading of input, never the loop. That goroutine takes every result
// pending when it wakes, so a busy loop's results go out in few writes.
//
// The package knows nothing of flags or configuration files; the caller maps
// its configuration onto [Option] values.
package launcher
