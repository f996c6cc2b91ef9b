package cmd

import (
	"os"
	"runtime"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// headStart is what a run begins before its arguments are parsed and its
// configuration loaded: the launcher's preparation (its cgroups, the
// keeper's fork and exec) and the signal subscriptions, both in the
// background. A short run (otel-qrun -- true) otherwise waited for them
// after its own start-up; begun here, they overlap it (BenchmarkPrefix:
// about 0.4 ms of the 6 ms the launcher adds). Begun only when the
// arguments run a command (runsCommand): a misjudged run costs a keeper
// started and ended for nothing, never a different outcome.
type headStart struct {
	prep *launcher.Preparation
	sigs subscription
}

// subscription is a background signal subscription (subscribe).
type subscription struct {
	sigs        chan os.Signal
	ready, stop func()
}

// keeperPath is the keeper's executable: the launcher's own, whatever its
// name on disk (launcher.KeeperEnv).
const keeperPath = "/proc/self/exe"

// beginRun begins a run's head start with f's environment and streams.
func beginRun(f *factory) *headStart {
	return &headStart{prep: launcher.Prepare(keeperPath, f.Environ()), sigs: subscribe(f)}
}

// take hands the head start to the run, or begins one when there is none
// (a factory without HeadStart: the in-process tests).
func (h *headStart) take(f *factory) (*launcher.Preparation, subscription) {
	if h == nil {
		return launcher.Prepare(keeperPath, f.Environ()), subscribe(f)
	}
	return h.prep, h.sigs
}

// close ends what no run took: a preparation is closed (Close is
// idempotent, and only reaps the keeper of a Run that took it), the
// subscription stopped.
func (h *headStart) close() {
	h.prep.Close()
	h.sigs.stop()
}

// runsCommand reports whether args run a command, as cobra will decide:
// they name no subcommand of root and ask for no help or version before
// "--". Only the head start depends on it.
func runsCommand(root *cobra.Command, args []string) bool {
	if len(args) == 0 {
		return false
	}
	// Added by Execute otherwise, after this is decided (idempotent).
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	c, _, err := root.Find(args)
	if err != nil || c != root {
		return false
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" || a == "--version" {
			return false
		}
	}
	return true
}

// subscribe relays the signals the launcher handles to a channel: every
// one of forwardedSignals and, with a terminal on stdin, those of job
// control. The subscription is made in the background: os/signal makes a
// round trip to the runtime's signal-mask thread for each signal, about
// 0.3 ms for the eleven on an idle 2-core machine and over 0.8 ms while
// the launcher's start-up competes with it for the CPUs, which a short run
// spent on its critical path (BenchmarkPrefix). ready waits until the
// subscription is made; stop waits for that and ends it.
func subscribe(f *factory) subscription {
	sigs := make(chan os.Signal, 16)
	caught := forwardedSignals
	if in, ok := f.IO.In.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(in.Fd())) {
		// A worker may get the terminal: SIGCHLD tells when ^Z stopped
		// it (job control). Not caught otherwise: it would wake the loop
		// at every exit of a per-task process.
		caught = append(slices.Clip(caught), syscall.SIGCHLD)
		if runtime.GOOS == "linux" {
			// When no worker holds the terminal (several workers), ^Z
			// reaches the launcher: it stops every worker with itself
			// (launcher, job control). Elsewhere it just stops.
			caught = append(caught, syscall.SIGTSTP)
		}
	}
	done := make(chan struct{})
	var unsubscribe func()
	go func() {
		defer close(done)
		unsubscribe = f.Notify(sigs, caught...)
	}()
	return subscription{
		sigs:  sigs,
		ready: func() { <-done },
		stop: func() {
			<-done
			unsubscribe()
		},
	}
}
