package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/internal/earlysig"
	"github.com/otel-qrun/otel-qrun/internal/keeper"
	"github.com/otel-qrun/otel-qrun/internal/redact"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// Exit statuses of the launcher itself (README, Exit status).
const (
	exitUsage = 2
)

// IOStreams are the standard streams a command uses. Commands never touch
// os.Stdout or os.Stderr directly, so tests can assert on buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// factory holds what commands depend on.
type factory struct {
	IO      *IOStreams
	Environ func() []string
	// Notify relays the given signals to c until the returned stop is
	// called (or, for the process's own factory, until it exits).
	Notify func(c chan<- os.Signal, sig ...os.Signal) (stop func())
	// Getpid is the launcher's pid (PID 1 detection).
	Getpid func() int
	// OwnProcess marks the factory of the process itself (Main), which
	// exits as soon as the command returns: a run's preparation begins
	// before its arguments are parsed (headStart), the run takes the
	// signal subscription the process's initialization began
	// (internal/earlysig) or gives it back, and the telemetry's
	// connections are left for the exit to close
	// (telemetry.WithExitAfterShutdown). In-process tests' factories
	// leave it false.
	OwnProcess bool

	head *headStart // execute's, for the run to take
}

func newFactory() *factory {
	return &factory{
		IO:      &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Environ: os.Environ,
		// Only when earlysig has no subscription to hand over (the
		// process's run takes it). The process exits as soon as the
		// command returns, so the signals stay caught until then.
		Notify: func(c chan<- os.Signal, sig ...os.Signal) func() {
			signal.Notify(c, sig...)
			return func() {}
		},
		Getpid:     os.Getpid,
		OwnProcess: true,
	}
}

// exitError carries an exit status out of a command. An empty message means
// that nothing is printed (the workers' status is simply passed on).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs otel-qrun with the process's arguments and returns the exit
// status. Nothing below it calls os.Exit. Started as the launcher's keeper
// (launcher.KeeperEnv), it runs the keeper instead.
func Main() int {
	if status, ok := launcher.KeeperMain(); ok {
		return status
	}
	return execute(context.Background(), newFactory(), os.Args[1:])
}

// execute runs the command tree on args with f and returns the exit
// status, printing an error once.
func execute(ctx context.Context, f *factory, args []string) int {
	root := newRootCmd(f)
	if f.OwnProcess {
		if runsCommand(root, args) {
			f.head = beginRun(f)
			defer f.head.close()
		} else {
			// No run takes the signals its initialization subscribed,
			// or a keeper it began (internal/keeper/early). Released
			// before the command runs, so that a signal received
			// meanwhile takes its action now, as it would have.
			keeper.ReleaseEarly()
			earlysig.Release()
		}
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		// An error may quote a value that holds a secret (a URL with a
		// password, a header): it is masked like every other output.
		msg := redact.New(f.Environ()).String(err.Error())
		if !strings.HasPrefix(msg, "otel-qrun") {
			msg = "otel-qrun: " + msg
		}
		fmt.Fprintln(f.IO.ErrOut, msg)
	}
	return code
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, envconfig.ErrInvalid):
		return exitUsage
	case errors.Is(err, launcher.ErrNotFound):
		return launcher.ExitNotFound
	case errors.Is(err, launcher.ErrNotExecutable):
		return launcher.ExitNotExecutable
	}
	return 1
}

// silence sets what every command in the tree shares.
func silence(c *cobra.Command) *cobra.Command {
	c.SilenceErrors = true
	c.SilenceUsage = true
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	if args := c.Args; args != nil {
		c.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return nil
		}
	}
	return c
}

// Command returns the root command wired to the process's streams. It is
// for generators (man pages, completions) that need the command tree.
func Command() *cobra.Command { return newRootCmd(newFactory()) }
