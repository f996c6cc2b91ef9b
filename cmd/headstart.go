package cmd

import (
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/otel-qrun/otel-qrun/internal/earlysig"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// headStart is what a run begins before its arguments are parsed and its
// configuration loaded: the launcher's preparation (its cgroups, the
// keeper's fork and exec), in the background. A short run (otel-qrun --
// true) otherwise waited for it after its own start-up; begun here, it
// overlaps that (BenchmarkPrefix). Begun only when the arguments run a
// command (runsCommand): a misjudged run costs a keeper started and ended
// for nothing, never a different outcome. The signal subscription is
// begun earlier still, during the packages' initialization
// (internal/earlysig).
type headStart struct {
	prep *launcher.Preparation
}

// keeperPath is the keeper's executable: the launcher's own, whatever its
// name on disk (launcher.KeeperEnv); the path internal/keeper/early
// starts it from during the process's initialization, which the launcher
// then takes (keeper.TakeEarly).
const keeperPath = "/proc/self/exe"

// beginRun begins a run's head start with f's environment.
func beginRun(f *factory) *headStart {
	return &headStart{prep: launcher.Prepare(keeperPath, f.Environ())}
}

// preparation hands the head start's preparation to the run, or begins
// one when there is none (a factory without OwnProcess: the in-process
// tests; a run runsCommand misjudged).
func (h *headStart) preparation(f *factory) *launcher.Preparation {
	if h == nil {
		return launcher.Prepare(keeperPath, f.Environ())
	}
	return h.prep
}

// close ends what no run took: Close is idempotent, and only reaps the
// keeper of a Run that took the preparation.
func (h *headStart) close() { h.prep.Close() }

// runsCommand reports whether args run a command, as cobra will decide:
// they name no subcommand of root, and root's own flags (those before the
// command: flags do not intersperse) ask for no help or version. The head
// start, and whether the signals subscribed early are kept or given back
// (earlysig), depend on it.
func runsCommand(root *cobra.Command, args []string) bool {
	if len(args) == 0 || args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd {
		return false // no run, or a shell's completion request (added by Execute)
	}
	// Added by Execute otherwise, after this is decided (idempotent).
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	c, _, err := root.Find(args)
	if err != nil || c != root {
		return false
	}
	fs := root.Flags()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return true // the command starts here
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") {
			f = fs.Lookup(name)
		} else if name != "" {
			f = fs.ShorthandLookup(name[len(name)-1:]) // -xyz: the last may take a value
		}
		switch {
		case f == nil:
			return true // unknown: cobra's usage error comes with the run
		case f.Name == "help" || f.Name == "version":
			return false
		case !hasValue && f.NoOptDefVal == "" && (strings.HasPrefix(a, "--") || len(name) == 1):
			i++ // its value is the next argument
		}
	}
	return true
}

// subscription is the run's signal subscription: sigs receives the
// signals once ready has returned; stop ends it.
type subscription struct {
	sigs        chan os.Signal
	ready, stop func()
}

// subscribe relays the signals the launcher handles (earlysig.Caught) to a
// channel, subscribed in the background (earlysig.Subscribe). The
// process's own factory (OwnProcess) takes the subscription begun during
// its initialization (earlysig.Take); the tests' factories subscribe now,
// through Notify.
func subscribe(f *factory) subscription {
	if f.OwnProcess {
		if s := earlysig.Take(); s != nil {
			// SIGPIPE was left to the run (earlysig.Take). Kept until
			// the process exits: signal.Stop would cost a round trip
			// per signal, and a SIGTERM arriving after it would replace
			// the exit status the launcher chose.
			s.Also(func(c chan<- os.Signal, sigs ...os.Signal) { f.Notify(c, sigs...) }, syscall.SIGPIPE)
			return subscription{sigs: s.Signals, ready: s.Ready, stop: func() {}}
		}
	}
	tty := false
	if in, ok := f.IO.In.(interface{ Fd() uintptr }); ok {
		tty = term.IsTerminal(int(in.Fd()))
	}
	var unsubscribe func()
	s := earlysig.Subscribe(func(c chan<- os.Signal, sigs ...os.Signal) { unsubscribe = f.Notify(c, sigs...) },
		earlysig.Caught(tty)...)
	return subscription{sigs: s.Signals, ready: s.Ready, stop: func() {
		s.Ready()
		unsubscribe()
	}}
}
