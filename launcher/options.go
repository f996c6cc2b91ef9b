package launcher

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// RestartPolicy says when a worker that exited is started again. It is
// [qrun.RestartPolicy], named here so that options read
// launcher.WithRestart(launcher.RestartAlways).
type RestartPolicy = qrun.RestartPolicy

// The restart policies, those of package qrun.
const (
	RestartNever     = qrun.RestartNever
	RestartOnFailure = qrun.RestartOnFailure
	RestartAlways    = qrun.RestartAlways
)

// Reason is why a worker was started.
type Reason string

// Start reasons, reported on the worker span and the qrun.worker.starts metric.
const (
	ReasonInitial Reason = "initial"
	ReasonRestart Reason = "restart"
	ReasonRecycle Reason = "recycle"
	ReasonScale   Reason = "scale"
)

type config struct {
	workers      int
	restart      RestartPolicy
	maxRestarts  int
	minUptime    time.Duration
	stopSignal   syscall.Signal
	stopGrace    time.Duration
	maxRSS       int64
	cpuAffinity  int
	guardCycle   time.Duration
	cluster      string
	environ      []string
	stdin        *os.File
	stdout       *os.File
	stderr       *os.File
	subreaper    bool
	backoffBase  time.Duration
	backoffMax   time.Duration
	logger       *slog.Logger
	taskIn       io.Reader
	taskResults  io.Writer
	taskSrc      TaskSource
	resultSink   ResultSink
	perTask      bool
	taskTimeout  time.Duration
	startTimeout time.Duration
	recycle      int
	maxAttempts  int
	prefetch     int
	queueLimit   int
	maxLine      int
	tracer       trace.TracerProvider
	meter        metric.MeterProvider
	propagator   propagation.TextMapPropagator
	bootstrap    func(Exec) Exec
	keeper       string
	prepared     *Preparation
	onDrained    func()
	onStarted    func()
	// silentWait is how long a persistent worker may hold its first task
	// without a reply before the run warns once (silentWorkerWait).
	silentWait time.Duration
	// eofExitWait is how long a worker that closed its result descriptor
	// during a task is given to exit (fd3ExitWait).
	eofExitWait time.Duration
}

// silentWorkerWait is how long a persistent worker may hold the first task
// it was given without replying before the run logs its one warning that
// the command may not speak the task protocol (docs/protocol.md). Not a
// setting: tests shorten it with withSilentWait.
const silentWorkerWait = 10 * time.Second

// fd3ExitWait bounds the wait, after a persistent worker closed its result
// descriptor during a task, for its exit: the exit, when it comes within
// it, names how the task ended ("exit status 2"). Tests change it with
// withEOFExitWait.
const fd3ExitWait = 2 * time.Second

// withSilentWait sets silentWorkerWait for one Launcher (tests).
func withSilentWait(d time.Duration) Option { return func(c *config) { c.silentWait = d } }

// withEOFExitWait sets fd3ExitWait for one Launcher (tests).
func withEOFExitWait(d time.Duration) Option { return func(c *config) { c.eofExitWait = d } }

func defaults() config {
	return config{
		workers:     qrun.DefaultWorkers,
		restart:     qrun.DefaultRestart,
		maxRestarts: qrun.DefaultMaxRestarts,
		minUptime:   qrun.DefaultMinUptime,
		stopSignal:  qrun.DefaultStopSignal,
		stopGrace:   qrun.DefaultStopGrace,
		guardCycle:  qrun.DefaultGuardCycle,
		cluster:     qrun.DefaultCluster,
		environ:     os.Environ(),
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		backoffBase: 100 * time.Millisecond,
		backoffMax:  30 * time.Second,
		maxAttempts: qrun.DefaultMaxAttempts,
		prefetch:    qrun.DefaultPrefetch,
		maxLine:     qrun.DefaultMaxLine,
		silentWait:  silentWorkerWait,
		eofExitWait: fd3ExitWait,
		logger:      slog.New(slog.DiscardHandler),
		tracer:      tracenoop.NewTracerProvider(),
		meter:       metricnoop.NewMeterProvider(),
	}
}

func (c *config) validate() error {
	var errs []error
	if c.workers < 1 {
		errs = append(errs, fmt.Errorf("workers must be >= 1, got %d", c.workers))
	}
	switch c.restart {
	case RestartNever, RestartOnFailure, RestartAlways:
	default:
		errs = append(errs, fmt.Errorf("unknown restart policy %q", c.restart))
	}
	if c.maxRestarts < 0 || c.maxRSS < 0 || c.cpuAffinity < 0 || c.minUptime < 0 || c.stopGrace < 0 {
		errs = append(errs, errors.New("max restarts, max rss, cpu affinity, min uptime and stop grace must not be negative"))
	}
	if c.stopSignal <= 0 {
		errs = append(errs, fmt.Errorf("invalid stop signal %d", c.stopSignal))
	}
	if c.guardCycle <= 0 {
		errs = append(errs, fmt.Errorf("guard cycle must be > 0, got %s", c.guardCycle))
	}
	if c.taskMode() {
		if c.taskResults == nil && c.resultSink == nil {
			errs = append(errs, errors.New("task mode needs a result stream"))
		}
		if c.queueLimit == 0 {
			c.queueLimit = qrun.DefaultQueueLimit(c.workers)
		}
		if c.queueLimit < 1 || c.maxLine < 1 || c.prefetch < 1 || c.maxAttempts < 0 || c.recycle < 0 || c.taskTimeout < 0 || c.startTimeout < 0 {
			errs = append(errs, errors.New("queue limit, max line and prefetch must be >= 1; max attempts, recycle, timeout and start timeout not negative"))
		}
	}
	if c.backoffBase <= 0 || c.backoffMax < c.backoffBase {
		errs = append(errs, fmt.Errorf("invalid backoff %s..%s", c.backoffBase, c.backoffMax))
	}
	return errors.Join(errs...)
}

// Option configures a [Launcher].
type Option func(*config)

// WithWorkers sets the number of worker processes (default 1).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithRestart sets the restart policy (default [RestartNever]).
func WithRestart(p RestartPolicy) Option { return func(c *config) { c.restart = p } }

// WithMaxRestarts sets how many quick failures of one slot in a row are
// restarted before the launcher gives up (default 5).
func WithMaxRestarts(n int) Option { return func(c *config) { c.maxRestarts = n } }

// WithMinUptime sets how long a worker must stay up for its slot's restart
// backoff to reset (default 10s).
func WithMinUptime(d time.Duration) Option { return func(c *config) { c.minUptime = d } }

// WithStopSignal sets the signal that asks a worker's process group to stop
// (default SIGTERM).
func WithStopSignal(s syscall.Signal) Option { return func(c *config) { c.stopSignal = s } }

// WithStopGrace sets the time between the stop signal and SIGKILL of the
// process group (default 10s).
func WithStopGrace(d time.Duration) Option { return func(c *config) { c.stopGrace = d } }

// WithMaxRSS replaces a worker whose process group's resident memory exceeds
// kib KiB (default 0, off).
func WithMaxRSS(kib int64) Option { return func(c *config) { c.maxRSS = kib } }

// WithCPUAffinity pins each worker to n CPUs, assigned round-robin (default
// 0, off).
func WithCPUAffinity(n int) Option { return func(c *config) { c.cpuAffinity = n } }

// WithGuardCycle sets the interval of the memory check (default 0.5s).
func WithGuardCycle(d time.Duration) Option { return func(c *config) { c.guardCycle = d } }

// WithCluster sets the cluster name passed to workers as QRUN_CLUSTER.
func WithCluster(name string) Option { return func(c *config) { c.cluster = name } }

// WithEnviron sets the environment that every worker's environment is a
// changed copy of (default os.Environ()). The slice is copied.
func WithEnviron(env []string) Option {
	return func(c *config) { c.environ = append([]string(nil), env...) }
}

// WithStdio sets the files workers inherit. stdin goes to the worker only
// when there is exactly one worker; otherwise workers read /dev/null.
func WithStdio(stdin, stdout, stderr *os.File) Option {
	return func(c *config) { c.stdin, c.stdout, c.stderr = stdin, stdout, stderr }
}

// WithSubreaper makes the launcher a child subreaper that reaps every orphan
// with a single wait4(-1) loop. Use it only in a process that starts no
// other children: that loop reaps them too.
func WithSubreaper(on bool) Option { return func(c *config) { c.subreaper = on } }

// WithBackoff sets the first and the largest restart delay (default 100ms
// and 30s). Each quick failure in a row doubles the delay; a random jitter
// takes up to half of it off.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *config) { c.backoffBase, c.backoffMax = base, maxDelay }
}

// WithTasks turns on task mode: tasks are read as lines from in
// (docs/protocol.md) and one result line per task is written to results. The run
// ends when the input is exhausted and every task has ended; its status is
// 0 when every task ended ok, else 1.
//
// Tasks are read from in by a goroutine of Run's. When Run returns while
// that goroutine is blocked in a Read of in (a stop while the input has no
// line to give, as a terminal or a FIFO without a writer), the goroutine
// stays blocked in that Read and outlives Run until the Read returns; it
// then ends without reading again or touching anything of the run. To end
// it with Run, close in (an *os.File or a pipe) after Run returns.
func WithTasks(in io.Reader, results io.Writer) Option {
	return func(c *config) { c.taskIn, c.taskResults = in, results }
}

// WithPerTask runs every task in a fresh process instead of persistent
// workers; the worker count is then the number of tasks run at once.
func WithPerTask(on bool) Option { return func(c *config) { c.perTask = on } }

// WithTaskTimeout stops a task that runs longer than d (0: no timeout); a
// task line's own timeout wins.
func WithTaskTimeout(d time.Duration) Option { return func(c *config) { c.taskTimeout = d } }

// WithStartTimeout bounds the start-up of a persistent task worker (0, the
// default: no bound). A worker that has written neither its readiness line
// ({"ready":true} on QRUN_RESULT_FD) nor a reply within d is replaced, and
// counted as a failed start under the restart rules (backoff, then the
// give-up of max_restarts); a task it held is queued again without being
// charged an attempt. Within d, a task's timeout does not run against a
// worker that has not spoken yet.
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithRecycle replaces a persistent worker after n tasks (0: never).
func WithRecycle(n int) Option { return func(c *config) { c.recycle = n } }

// WithMaxAttempts sets the attempts per task (default 1; 0: no limit).
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithPrefetch sets how many tasks a persistent worker may hold at once
// (default 1): the one it works on and n-1 more written to its stdin ahead
// of its replies, which must come in the order of the tasks. Each task
// keeps its own span, carrier and result; its timeout runs from when it
// reaches the head of its worker's queue, and when a worker dies the tasks
// behind the head are queued again without an attempt charged. Per-task
// processes ignore it.
func WithPrefetch(n int) Option { return func(c *config) { c.prefetch = n } }

// WithQueueLimit sets how many tasks are read ahead of the workers (default
// workers²).
func WithQueueLimit(n int) Option { return func(c *config) { c.queueLimit = n } }

// WithMaxLine sets the longest task line, and worker reply, in bytes
// (default 1 MiB).
func WithMaxLine(n int) Option { return func(c *config) { c.maxLine = n } }

// WithLogger sets the logger for the launcher's own messages.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTracerProvider sets where worker spans go (default no-op).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tracer = tp } }

// WithMeterProvider sets where the launcher's metrics go (default no-op).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.meter = mp } }

// WithPropagator sets the propagator that injects each worker's carrier. With
// none (the default, and what a disabled SDK uses) the inherited TRACEPARENT,
// TRACESTATE and BAGGAGE pass through unchanged.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// Exec is what one worker start executes.
type Exec struct {
	Path string   // the executable, resolved through the worker's PATH
	Argv []string // the argument vector; Argv[0] as the command was given
	Env  []string // the worker's environment, "NAME=value" entries
}

// WithBootstrap sets f, which every worker start (including each per-task
// process) applies to what it executes, once the worker's environment is
// complete (identity, carrier, task variables) and just before the fork; the
// worker executes what f returns. f may return the slices it is given, but
// must not modify them in place. It runs on the supervision loop, so it must
// be quick and must not block: checks belong before [New]. The launcher
// gives f no meaning: a zero-code bootstrap of the worker's language, a
// wrapper command, extra variables are all the caller's choice.
func WithBootstrap(f func(Exec) Exec) Option { return func(c *config) { c.bootstrap = f } }

// WithKeeper sets the executable started as the keeper (default none): a
// small process that outlives a launcher killed with SIGKILL and then kills
// every process its workers left, so that nothing they started runs on. The
// executable must link this package (the keeper runs while its packages
// are initialized) or call [KeeperMain] first thing in main;
// "/proc/self/exe" names the running program. Without a keeper only the
// workers themselves end with the launcher (parent-death signal).
func WithKeeper(path string) Option { return func(c *config) { c.keeper = path } }

// WithDrained sets a function Run calls once every worker is gone, their
// spans ended and the task results written, before it removes the
// workers' cgroups and ends the keeper (a few tenths of a millisecond):
// where a caller begins flushing its telemetry, so that the two overlap.
// It must not block.
func WithDrained(f func()) Option { return func(c *config) { c.onDrained = f } }

// WithStarted sets a function Run calls once, right after it forked its
// first process (worker or per-task process), from its event loop: where a
// caller begins work that can wait for the first worker, so that a short
// run does not spend the CPUs on it before the worker starts (the
// OpenTelemetry SDK's connection and warm-up, cmd and BenchmarkPrefix). A
// Run whose every start fails never calls it. It must not block.
func WithStarted(f func()) Option { return func(c *config) { c.onStarted = f } }

// WithPreparation gives Run a [Preparation] begun with [Prepare]: Run takes
// its cgroup and keeper instead of making its own, and WithKeeper is then
// not used. A Preparation serves one Run: a second Run given the same one
// prepares its own. The caller closes it after the Run
// ([Preparation.Close]), which reaps the keeper the Run ended.
func WithPreparation(p *Preparation) Option { return func(c *config) { c.prepared = p } }
