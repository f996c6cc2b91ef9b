// Package earlysig subscribes the signals the launcher handles while the
// program's packages are still being initialized, before main.
//
// A signal that reaches a Go program before it subscribes takes the Go
// runtime's default action (os/signal, Default behavior of signals in Go
// programs): SIGTERM, SIGINT and SIGHUP end the launcher before any worker
// exists, SIGQUIT dumps the goroutines and exits 2, SIGTTIN and SIGTTOU
// stop it, and SIGUSR1, SIGUSR2 and SIGWINCH are lost. otel-qrun subscribed
// in its run command, a few milliseconds after its start on a 2-core
// machine (the packages' initialization, the command line, and one round
// trip to the runtime's signal thread per signal). Package earlysig/begin
// begins the subscription in the background at the start of that, among
// the first packages initialized (this package depends on the standard
// library only, on Linux). The window left is the Go runtime's own start,
// which no Go program can close (tini blocks signals before it forks; a
// Go program cannot block them before its runtime starts), and the
// subscription's own round trips, which on a loaded 2-core machine may
// take a few milliseconds (the README gives measured figures).
//
// Only the otel-qrun command's main package begins it (package
// earlysig/begin): a library, or a test binary, must not catch a program's
// signals. The keeper does not subscribe (keeperEnv). The command hands the
// subscription to its run (Take), or gives the signals their default
// actions back (Release).
package earlysig

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Forwarded are the signals the launcher handles (README, Supervision and
// signals). os/signal subscribes them one at a time, a round trip to the
// runtime's signal thread each: first those whose default action ends or
// stops the launcher, then those that would only be lost.
var Forwarded = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGTTIN, syscall.SIGTTOU,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
	// Caught, SIGPIPE no longer kills the launcher when its stdout (the
	// result stream) is closed: the write fails with EPIPE and the
	// launcher stops gracefully (exit 141). Workers start with it at its
	// default, as a caught signal is reset by exec.
	syscall.SIGPIPE,
}

// Caught returns the signals a launcher subscribes: Forwarded and, when
// its stdin is a terminal, those of job control. SIGCHLD tells when ^Z
// stopped a worker that holds the terminal; not caught otherwise, it would
// wake the launcher at every exit of a per-task process. On Linux, SIGTSTP
// too: when no worker holds the terminal (several workers), ^Z reaches the
// launcher, which stops every worker with itself. Elsewhere it just stops.
func Caught(stdinIsTerminal bool) []os.Signal {
	if !stdinIsTerminal {
		return Forwarded
	}
	sigs := append(append([]os.Signal(nil), Forwarded...), syscall.SIGCHLD)
	if jobControlStop {
		sigs = append(sigs, syscall.SIGTSTP)
	}
	return sigs
}

// Subscription is a subscription made in the background: Signals receives
// the signals once Ready has returned (and from whenever the subscription
// was made).
type Subscription struct {
	Signals chan os.Signal
	done    chan struct{}
}

// Ready waits until the subscription is made.
func (s *Subscription) Ready() { <-s.done }

// Also subscribes sigs too, on the same channel, in the background, after
// what was subscribed before; Ready then waits for both. Not safe for use
// concurrently with Ready.
func (s *Subscription) Also(notify func(chan<- os.Signal, ...os.Signal), sigs ...os.Signal) {
	prev, done := s.done, make(chan struct{})
	go func() {
		defer close(done)
		<-prev
		notify(s.Signals, sigs...)
	}()
	s.done = done
}

// Subscribe begins a subscription to sigs with notify (signal.Notify's
// shape) in the background, and returns at once: os/signal makes a round
// trip to the runtime's signal-mask thread for each signal, about 0.3 ms
// for eleven on an idle 2-core machine and over 0.8 ms under load. The
// channel holds 16 signals.
func Subscribe(notify func(chan<- os.Signal, ...os.Signal), sigs ...os.Signal) *Subscription {
	done := make(chan struct{}) // not s.done, which Also replaces
	s := &Subscription{Signals: make(chan os.Signal, 16), done: done}
	go func() {
		defer close(done)
		notify(s.Signals, sigs...)
	}()
	return s
}

// keeperEnv is internal/keeper's Env, which marks the keeper's process:
// not imported, so that this package depends on the standard library only
// (on Linux) and is initialized among the first: Go initializes a package
// once its imports are, the lexically first of those ready.
const keeperEnv = "OTEL_QRUN_KEEPER"

var (
	mu    sync.Mutex
	early *Subscription // the process's, until taken or released
)

// Begin begins the process's early subscription to Caught's signals (with
// stdin, fd 0, as the terminal), unless one was begun already. Package
// earlysig/begin calls it during its initialization.
func Begin() {
	if os.Getenv(keeperEnv) == "1" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if early == nil {
		early = Subscribe(signal.Notify, withoutPipe(Caught(isTerminal(0)))...)
	}
}

// withoutPipe is sigs without SIGPIPE, which the early subscription leaves
// to the run (Also): caught, SIGPIPE would no longer end a command that
// runs nothing whose output went away (otel-qrun --help | head -1), which
// would see EPIPE errors instead.
func withoutPipe(sigs []os.Signal) []os.Signal {
	out := make([]os.Signal, 0, len(sigs))
	for _, s := range sigs {
		if s != syscall.SIGPIPE {
			out = append(out, s)
		}
	}
	return out
}

// Take hands the early subscription to the caller (a run), once; nil when
// there is none (a test binary) or it was taken or released. It holds
// Caught's signals but SIGPIPE, which the run adds (Also).
func Take() *Subscription {
	mu.Lock()
	defer mu.Unlock()
	s := early
	early = nil
	return s
}

// Release ends the early subscription of a process that runs no command
// (help, the version, another subcommand), unless a run took it: the
// signals go back to what they were at the program's start (os/signal's
// Stop; SIGTSTP, SIGTTIN and SIGTTOU, whose handler the runtime keeps
// after Stop and which it would then ignore, to the system's default:
// resetJobControl), and those received meanwhile are raised again, so that
// each takes the action it would have taken without the subscription
// (SIGTERM ends the process, SIGTTIN stops it; SIGUSR1 is ignored, as Go
// ignores it by default). Call it before the command runs: it waits for
// the subscription to be made.
func Release() {
	s := Take()
	if s == nil {
		return
	}
	s.Ready()
	signal.Stop(s.Signals)
	resetJobControl()
	for {
		select {
		case sig := <-s.Signals:
			if n, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), n)
			}
		default:
			return
		}
	}
}
