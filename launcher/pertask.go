package launcher

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// perTaskMode runs each attempt in a fresh process: the payload on its
// stdin, exit 0 means ok.
type perTaskMode struct{ r *supervisor }

func (m perTaskMode) startsWorkers() bool           { return false }
func (m perTaskMode) policy() (RestartPolicy, bool) { return "", false }
func (m perTaskMode) persistent() bool              { return false }

func (m perTaskMode) startWorker(*slot, Reason) error {
	return errors.New("per-task slots start a process only for a task")
}

func (m perTaskMode) freeSlot() *slot {
	for _, s := range m.r.slots {
		if s.w == nil && !s.pending && !s.retiring && !s.finished {
			return s
		}
	}
	return nil
}

// give starts a fresh process for one attempt.
func (m perTaskMode) give(s *slot, a *attempt) error {
	r, ts := m.r, a.ts
	in, out, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("stdin pipe: %w", err)
	}
	var env []string
	if r.cfg.propagator == nil && ts.t.Carrier != nil {
		// No SDK: the task's own carrier passes through.
		c := propagate.NewEnvCarrier(nil)
		for k, v := range ts.t.Carrier {
			c.Set(k, v)
		}
		env = c.Environ()
	}
	env = append(env, qrun.EnvTaskID+"="+ts.t.ID, qrun.EnvTaskAttempt+"="+strconv.Itoa(ts.attempts))
	err = r.startWith(s, ReasonInitial, startSpec{ctx: a.ctx, env: env, stdin: in})
	in.Close()
	if err != nil {
		out.Close()
		return err
	}
	s.take(a)
	a.w = s.w
	r.tasks.startClock(a)
	// A payload the pipe takes whole goes in one write, without a
	// goroutine; the pipe closes once the payload is written.
	p := newTaskPipe(out, &r.lingering)
	p.write(taskproto.PayloadBytes(ts.t.Payload))
	p.closeWhenWritten()
	return nil
}

func (m perTaskMode) exited(s *slot, w *worker, ws syscall.WaitStatus, left []*attempt) {
	for _, a := range left {
		if ws.Exited() && ws.ExitStatus() == 0 {
			m.r.tasks.endAttempt(a, taskproto.StatusOK, "", nil)
		} else {
			m.r.tasks.endAttempt(a, taskproto.StatusError, describeStatus(ws), nil)
		}
	}
}
