package qrun

import (
	"math"
	"syscall"
	"time"
)

// Environment variables the launcher sets for every worker.
const (
	// EnvCluster is the cluster name (the name key).
	EnvCluster = "QRUN_CLUSTER"
	// EnvWorkerIndex is the worker's slot, 0 to workers-1, stable across
	// restarts.
	EnvWorkerIndex = "QRUN_WORKER_INDEX"
	// EnvWorkers is the number of workers the launcher runs.
	EnvWorkers = "QRUN_WORKERS"
)

// Environment variables of task mode workers.
const (
	// EnvResultFD names the file descriptor (ResultFD) on which a
	// persistent worker writes its readiness line and one reply per task.
	EnvResultFD = "QRUN_RESULT_FD"
	// EnvTaskID is the id of the task a per-task process runs.
	EnvTaskID = "QRUN_TASK_ID"
	// EnvTaskAttempt is the attempt, from 1, of the task a per-task
	// process runs.
	EnvTaskAttempt = "QRUN_TASK_ATTEMPT"
)

// ResultFD is the file descriptor a persistent worker's replies go to, the
// value of EnvResultFD.
const ResultFD = 3

// EnvShutdownTimeout is set by the zero-code bootstraps (package
// instrument): it bounds, in seconds (a decimal number), each flush of a
// worker's SDK at exit, at SIGTERM and before a fork. Its value is the
// launcher's shutdown_timeout.
const EnvShutdownTimeout = "QRUN_SHUTDOWN_TIMEOUT"

// EnvStopSignal is set by the Python bootstrap (package instrument) when
// the launcher's stop_signal is not SIGTERM: the name of that signal
// ("SIGQUIT"), which then flushes the worker's SDK as SIGTERM does.
const EnvStopSignal = "QRUN_STOP_SIGNAL"

// RestartPolicy says when a worker that exited is started again: the values
// of the restart key.
type RestartPolicy string

// The restart policies.
const (
	RestartNever     RestartPolicy = "never"      // never restart; a failure stops the launcher
	RestartOnFailure RestartPolicy = "on-failure" // restart after a non-zero status or a signal
	RestartAlways    RestartPolicy = "always"     // restart after any exit
)

// RestartPolicies returns every restart policy, in the order help shows
// them.
func RestartPolicies() []RestartPolicy {
	return []RestartPolicy{RestartNever, RestartOnFailure, RestartAlways}
}

// Instrument says which zero-code bootstrap starts each worker's own
// OpenTelemetry SDK: the values of the instrument key.
type Instrument string

// The values of the instrument key.
const (
	InstrumentNone   Instrument = "none"   // no bootstrap: the worker starts its SDK itself, or has none
	InstrumentAuto   Instrument = "auto"   // decided from the executable, its #! line or the interpreter a wrapper script execs
	InstrumentPython Instrument = "python" // put otel-qrun's sitecustomize first on PYTHONPATH
	InstrumentNode   Instrument = "node"   // require the auto-instrumentations-node register
	InstrumentJava   Instrument = "java"   // load the OpenTelemetry Java agent given by javaagent
)

// Instruments returns every value of the instrument key, in the order help
// shows them.
func Instruments() []Instrument {
	return []Instrument{InstrumentAuto, InstrumentPython, InstrumentNode, InstrumentJava, InstrumentNone}
}

// Defaults of the settings. A setting not listed here defaults to its zero
// value (0 means off, or no bound, for the counts and durations of
// timeout, start_timeout, recycle, max_rss and cpu_affinity; "" for tasks
// and javaagent; false for per_task).
const (
	DefaultCluster         = "default"              // name
	DefaultWorkers         = 1                      // workers
	DefaultRestart         = RestartNever           // restart
	DefaultMaxRestarts     = 5                      // max_restarts
	DefaultMinUptime       = 10 * time.Second       // min_uptime
	DefaultStopSignal      = syscall.SIGTERM        // stop_signal
	DefaultStopGrace       = 10 * time.Second       // stop_grace
	DefaultGuardCycle      = 500 * time.Millisecond // guard_cycle
	DefaultMaxAttempts     = 1                      // max_attempts
	DefaultPrefetch        = 1                      // prefetch: one task in flight per worker
	DefaultMaxLine         = 1 << 20                // max_line, in bytes (1 MiB)
	DefaultShutdownTimeout = 3 * time.Second        // shutdown_timeout
	DefaultInstrument      = InstrumentNone         // instrument
)

// MaxQueueLimit bounds queue_limit and its default.
const MaxQueueLimit = 1 << 20

// DefaultQueueLimit returns the default of queue_limit for the given number
// of workers: workers², at most MaxQueueLimit, and at least 1.
func DefaultQueueLimit(workers int) int {
	if workers < 1 {
		return 1
	}
	if workers > math.MaxInt/workers {
		return MaxQueueLimit
	}
	return min(workers*workers, MaxQueueLimit)
}
