//go:build !linux

package earlysig

import "golang.org/x/term"

// jobControlStop: the launcher catches SIGTSTP (Caught).
const jobControlStop = false

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool { return term.IsTerminal(fd) }

// resetJobControl does nothing outside Linux: there the runtime's handler
// may keep ignoring SIGTSTP, SIGTTIN and SIGTTOU after Release.
func resetJobControl() {}
