package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/metric"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/instrument"
	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// runOptions are the dependencies and inputs of the main job.
type runOptions struct {
	f    *factory
	cmd  *cobra.Command
	args []string
}

// subreaperWanted applies the subreaper key: on, off, or automatic as PID 1
// and where worker trees are followed through /proc (orphans then stay in
// the launcher's tree), the mechanism of prep's Run.
func subreaperWanted(cfg *envconfig.Config, pid int, prep *launcher.Preparation) bool {
	switch cfg.Subreaper {
	case envconfig.SwitchOn:
		return true
	case envconfig.SwitchOff:
		return false
	}
	return pid == 1 || prep.Supervision().Mechanism == launcher.MechanismProc
}

// launcherOptions maps the configuration onto the launcher, whose Run
// takes prep.
func launcherOptions(cfg *envconfig.Config, environ []string, pid int, prep *launcher.Preparation) []launcher.Option {
	return []launcher.Option{
		launcher.WithWorkers(cfg.Workers),
		launcher.WithRestart(cfg.Restart),
		launcher.WithMaxRestarts(cfg.MaxRestarts),
		launcher.WithMinUptime(cfg.MinUptime),
		launcher.WithStopSignal(cfg.StopSignal),
		launcher.WithStopGrace(cfg.StopGrace),
		launcher.WithMaxRSS(cfg.MaxRSS),
		launcher.WithCPUAffinity(cfg.CPUAffinity),
		launcher.WithGuardCycle(cfg.GuardCycle),
		launcher.WithCluster(cfg.Name),
		launcher.WithEnviron(environ),
		launcher.WithPreparation(prep),
		launcher.WithSubreaper(subreaperWanted(cfg, pid, prep)),
	}
}

func (o *runOptions) run(ctx context.Context) error {
	environ := o.f.Environ()
	// Begun ahead of the arguments' parsing (headStart, earlysig), or now.
	prep, sub := o.f.head.preparation(o.f), subscribe(o.f)
	// Closed last: it reaps the keeper the Run ended, after the
	// telemetry's shut-down.
	defer prep.Close()
	defer sub.stop()
	cfg, err := loadConfig(o.cmd, environ, o.f.IO.ErrOut)
	if err != nil {
		return err
	}
	if len(o.args) == 0 || o.args[0] == "" {
		return usageError("no command given: usage: %s", o.cmd.UseLine())
	}
	// The SDK's log lines carry their own component (otel, telemetry).
	base := newLogger(o.f.IO.ErrOut, cfg.Verbose, environ)
	log := base.With("component", "otel-qrun")
	// The spans of the run are flushed once its workers are gone
	// (launcher.WithDrained), while the launcher removes their cgroups;
	// waited for after the shutdown, which ends a flush that hangs on the
	// collector by the shutdown timeout.
	var flushing sync.WaitGroup
	defer flushing.Wait()
	// The SDK's background start (its connection, its encoders' warm-up)
	// waits for the first worker: before it, it would compete with the
	// preparation and the fork for the CPUs (BenchmarkPrefix).
	topts := []telemetry.Option{telemetry.WithShutdownTimeout(cfg.ShutdownTimeout), telemetry.WithDeferredWarmUp()}
	if o.f.OwnProcess {
		topts = append(topts, telemetry.WithExitAfterShutdown())
	}
	sdk, ctx, shutdown, err := startTelemetry(ctx, o.f, environ, base, topts...)
	if err != nil {
		return err
	}
	defer shutdown()
	plan, err := prepareBootstrap(ctx, cfg, o.args, environ, false)
	if err != nil {
		return startFailed(ctx, sdk, o.args[0], err)
	}
	defer func() {
		if err := plan.Close(); err != nil {
			log.Warn("cannot remove the bootstrap's temporary files", "error", err)
		}
	}()
	for _, w := range plan.Warnings() {
		log.Warn(w)
	}
	if cfg.Tasks != "" && lookupEnv(environ, "GOMAXPROCS") == "" {
		// Task mode: one event loop does the work; its other goroutines
		// wait on I/O. A single P spares the cross-thread handoffs and
		// spinning that cost every task a third more CPU on a busy 2-core
		// machine (BenchmarkDispatch with -cpu 1 and 2). Workers'
		// environments are not affected. Not without tasks: the change
		// stops the world, on a short run's critical path.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}

	opts := launcherOptions(cfg, environ, o.f.Getpid(), prep)
	if !sdk.Disabled {
		opts = append(opts,
			launcher.WithPropagator(sdk.Propagator),
			launcher.WithTracerProvider(sdk.TracerProvider),
			launcher.WithMeterProvider(sdk.MeterProvider))
	}
	stdio, err := stdioFiles(o.f.IO)
	if err != nil {
		return err
	}
	opts = append(opts, launcher.WithLogger(log), launcher.WithStdio(stdio[0], stdio[1], stdio[2]),
		launcher.WithStarted(sdk.WarmUp),
		launcher.WithDrained(func() { flushing.Go(func() { sdk.FlushTraces(ctx) }) }))
	if cfg.Tasks != "" {
		var meter metric.MeterProvider
		if !sdk.Disabled {
			meter = sdk.MeterProvider
		}
		taskOpts, closeTasks, err := taskOptions(cfg, stdio, environ, base, meter)
		if err != nil {
			return err
		}
		defer closeTasks()
		opts = append(opts, taskOpts...)
	}

	if plan.Mode() != instrument.None {
		opts = append(opts, launcher.WithBootstrap(func(ex launcher.Exec) launcher.Exec {
			ex.Path, ex.Argv, ex.Env = plan.Apply(ex.Path, ex.Argv, ex.Env)
			return ex
		}))
	}
	l, err := launcher.New(o.args, opts...)
	if err != nil {
		return startFailed(ctx, sdk, o.args[0], err)
	}
	// Signals that arrive from here on wait in sub.sigs for Run.
	sub.ready()
	status, err := l.Run(ctx, sub.sigs)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if status != 0 {
		return &exitError{code: status}
	}
	return nil
}

// startFailed returns err, a run's error before its first worker, and
// records the span of a command that cannot be executed
// (launcher.RecordStartFailure) when err says so: exit status 127 or 126
// then comes with a trace, as a start that fails later does.
func startFailed(ctx context.Context, sdk *telemetry.SDK, argv0 string, err error) error {
	if !sdk.Disabled && (errors.Is(err, launcher.ErrNotFound) || errors.Is(err, launcher.ErrNotExecutable)) {
		launcher.RecordStartFailure(ctx, sdk.TracerProvider, argv0, err)
	}
	return err
}

// prepareBootstrap checks the zero-code bootstrap of the instrument key
// for the command argv, once, before any worker starts. A bootstrap that
// cannot be applied is a configuration error (exit 2). dryRun describes it
// without writing the Node per-task preload.
func prepareBootstrap(ctx context.Context, cfg *envconfig.Config, argv, environ []string, dryRun bool) (*instrument.Plan, error) {
	mode := cfg.Instrument
	if mode == instrument.None {
		return instrument.Prepare(ctx, instrument.Config{Mode: mode})
	}
	// The bootstrap depends on the executable, found as the workers find it.
	path, err := launcher.LookPath(argv[0], lookupEnv(environ, "PATH"))
	if err != nil {
		return nil, err
	}
	plan, err := instrument.Prepare(ctx, instrument.Config{
		Mode:            mode,
		Path:            path,
		Argv:            argv,
		Environ:         environ,
		JavaAgent:       cfg.JavaAgent,
		PerTask:         cfg.Tasks != "" && cfg.PerTask,
		ShutdownTimeout: cfg.ShutdownTimeout,
		StopSignal:      cfg.StopSignal,
		DryRun:          dryRun,
	})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--instrument %s: %w", cfg.Instrument, err)}
	}
	return plan, nil
}

// taskOptions opens the task input and the result stream: stdin, a file,
// a FIFO or a Redis stream (redis.go) for tasks; stdout, a file or a Redis
// stream for results. When results go to stdout, the workers' stdout goes
// to stderr, so that stdout holds nothing but result lines. base is the
// logger without a component (openRedisTasks).
func taskOptions(cfg *envconfig.Config, stdio [3]*os.File, environ []string, base *slog.Logger, meter metric.MeterProvider) ([]launcher.Option, func(), error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	var extra []launcher.Option
	if redisq.IsURL(cfg.Tasks) || redisq.IsURL(cfg.Results) {
		rt, err := openRedisTasks(cfg, environ, base, meter)
		if err != nil {
			return nil, nil, err
		}
		extra = rt.opts
		closers = append(closers, func() error { rt.close(); return nil })
	}
	in := stdio[0]
	if redisq.IsURL(cfg.Tasks) {
		in = nil
	} else if cfg.Tasks != "-" {
		mode := os.O_RDONLY
		if st, err := os.Stat(cfg.Tasks); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			// Holding a write end of the FIFO ourselves, its input never
			// ends when one producer closes it: producers come and go
			// (otel-qrun enqueue ... >> tasks.fifo) and a signal ends the run.
			mode = os.O_RDWR
		}
		f, err := os.OpenFile(cfg.Tasks, mode, 0)
		if err != nil {
			return nil, nil, usageError("--tasks: %w", err)
		}
		in, closers = f, append(closers, f.Close)
	}
	results, workerOut := stdio[1], stdio[1]
	switch {
	case redisq.IsURL(cfg.Results):
		results = nil
	case cfg.Results == "-":
		workerOut = stdio[2]
	default:
		f, err := os.OpenFile(cfg.Results, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			closeAll()
			return nil, nil, usageError("--results: %w", err)
		}
		results, closers = f, append(closers, f.Close)
	}
	opts := []launcher.Option{
		launcher.WithStdio(nil, workerOut, stdio[2]),
		launcher.WithPerTask(cfg.PerTask),
		launcher.WithTaskTimeout(cfg.Timeout),
		launcher.WithStartTimeout(cfg.StartTimeout),
		launcher.WithRecycle(cfg.Recycle),
		launcher.WithMaxAttempts(cfg.MaxAttempts),
		launcher.WithPrefetch(cfg.Prefetch),
		launcher.WithQueueLimit(cfg.QueueLimit),
		launcher.WithMaxLine(cfg.MaxLine),
	}
	if in != nil || results != nil {
		opts = append(opts, launcher.WithTasks(in, results))
	}
	return append(opts, extra...), closeAll, nil
}

// stdioFiles returns the standard streams as the files workers inherit
// (no copy is made). They are files whenever otel-qrun runs as a program.
func stdioFiles(streams *IOStreams) ([3]*os.File, error) {
	var files [3]*os.File
	for i, s := range []any{streams.In, streams.Out, streams.ErrOut} {
		f, ok := s.(*os.File)
		if !ok {
			return files, fmt.Errorf("the workers' standard streams must be files, not %T", s)
		}
		files[i] = f
	}
	return files, nil
}
