package launcher

import (
	"syscall"
)

// mode is what differs between plain workers, persistent task workers and
// per-task processes. The supervision loop (run.go) calls it for those
// decisions and checks no mode itself.
type mode interface {
	// startsWorkers reports whether every slot keeps a worker running
	// (plain, persistent); per-task slots run a process only for a task.
	startsWorkers() bool
	// startWorker starts the slot's worker for reason.
	startWorker(s *slot, reason Reason) error
	// give hands an attempt to a free slot (see freeSlot).
	give(s *slot, a *attempt) error
	// freeSlot returns a slot that can take a task now, or nil.
	freeSlot() *slot
	// exited ends the attempts that were in flight on a process that
	// exited with ws.
	exited(s *slot, w *worker, ws syscall.WaitStatus, left []*attempt)
	// policy is the restart policy of a worker that exited on its own;
	// false: the slot simply becomes free (per task).
	policy() (RestartPolicy, bool)
	// persistent reports whether stopping a worker may start with closing
	// its stdin (the task protocol's "EOF: finish, flush, exit").
	persistent() bool
}

// plainMode runs the command as long-lived workers, without tasks.
type plainMode struct{ r *supervisor }

func (m plainMode) startsWorkers() bool { return true }
func (m plainMode) startWorker(s *slot, reason Reason) error {
	return m.r.startWith(s, reason, startSpec{})
}
func (m plainMode) give(*slot, *attempt) error                            { panic("plain workers take no task") }
func (m plainMode) freeSlot() *slot                                       { return nil }
func (m plainMode) exited(*slot, *worker, syscall.WaitStatus, []*attempt) {}
func (m plainMode) policy() (RestartPolicy, bool)                         { return m.r.cfg.restart, true }
func (m plainMode) persistent() bool                                      { return false }
