package launcher

import (
	"errors"
	"syscall"
)

// ExitOutputClosed is the launcher's exit status after its output (the
// result stream) was closed by its reader: 128 + SIGPIPE, as a shell
// reports a pipeline stage that died of SIGPIPE.
const ExitOutputClosed = 128 + int(syscall.SIGPIPE)

// outputClosed is the loop's decision on a failed write of the result
// stream: a reader that went away (EPIPE, as with `| head -1`) is a reason
// for a graceful stop of every worker and its tree, reported once, with
// exit status ExitOutputClosed. It reports whether err was that; any other
// error is the caller's to report.
func (r *supervisor) outputClosed(err error) bool {
	if !errors.Is(err, syscall.EPIPE) {
		return false
	}
	if !r.outClosed {
		r.outClosed = true
		r.l.cfg.logger.Error("the result stream was closed by its reader: stopping the workers",
			"hint", "a reader that stops early (head -1) ends the run; to keep every result, write them to a file (--results FILE)")
		r.beginStop(false)
	}
	return true
}
