package launcher

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

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
		if s.w == nil && !s.launching && !s.pending && !s.retiring && !s.finished {
			return s
		}
	}
	return nil
}

// give starts a fresh process for one attempt. Its environment is the
// run's template (envTemplate) with the attempt's own carrier and
// QRUN_TASK_ID and QRUN_TASK_ATTEMPT; its stdin is a pipe that holds the
// payload, then EOF.
//
// The fork is asked of the spawner without waiting for it: the slot is
// launching until the loop has the result (onSpawned), and meanwhile the
// loop handles other exits and starts other tasks. Only the attempt's
// timeout waits for the process: its clock starts once it runs.
func (m perTaskMode) give(s *slot, a *attempt) error {
	r, ts := m.r, a.ts
	in, err := newPayloadPipe(taskproto.PayloadBytes(ts.t.Payload), &r.lingering)
	if err != nil {
		return err
	}
	var carrier []string
	if r.cfg.propagator == nil && len(ts.t.Carrier) > 0 {
		// No SDK: the task's own carrier passes through.
		c := propagate.NewEnvCarrier(nil)
		for k, v := range ts.t.Carrier {
			c.Set(k, v)
		}
		carrier = c.Environ()
	}
	env := []string{qrun.EnvTaskID + "=" + ts.t.ID, qrun.EnvTaskAttempt + "=" + strconv.Itoa(ts.attempts)}
	spec := startSpec{ctx: a.ctx, env: env, carrier: carrier, stdinFD: in.r, hasStdinFD: true}
	if r.spawnAsync != nil {
		req := r.spawnRequest(s, a.ctx, spec)
		s.launching = true
		r.launches++
		r.spawnAsync(req, &launch{slot: s, attempt: a, in: in, path: req.path})
		return nil
	}
	err = r.startWith(s, ReasonInitial, spec)
	in.started(err == nil)
	if err != nil {
		return err
	}
	m.run(s, a)
	return nil
}

// run records that the process of a runs: the attempt is in flight on it
// and its timeout clock starts.
func (m perTaskMode) run(s *slot, a *attempt) {
	s.take(a)
	a.w = s.w
	m.r.tasks.startClock(a)
}

// launch is an asynchronous start of a per-task process.
type launch struct {
	slot    *slot
	attempt *attempt
	in      *payloadPipe
	path    string
}

// onSpawned handles the asynchronous starts the spawner has finished.
func (r *supervisor) onSpawned() {
	for _, res := range r.takeSpawned() {
		l := res.mark.(*launch)
		perTaskMode{r}.spawned(l, res.t, res.err)
	}
}

// spawned is the end of the start of l: the attempt runs on the process,
// or ends with the error of the start. An exit that came first (see
// onExit) is handled now; a process started after the stop began is
// stopped at once.
func (m perTaskMode) spawned(l *launch, t *tree, err error) {
	r, s, a := m.r, l.slot, l.attempt
	s.launching = false
	r.launches--
	l.in.started(err == nil)
	if err != nil {
		err = startError(s, l.path, err)
		r.log.Error("cannot start the task", "task", a.ts.t.ID, "error", err)
		r.tasks.endAttempt(a, taskproto.StatusError, err.Error(), nil)
		if s.retiring || r.shuttingDown {
			r.remove(s)
		}
		return
	}
	r.started(s, t, nil, ReasonInitial, false)
	m.run(s, a)
	if ev, ok := r.early[t.pid]; ok {
		delete(r.early, t.pid)
		r.onExit(ev)
		return
	}
	if r.shuttingDown {
		r.stopWorker(s, false)
	}
}

// payloadPipe is the stdin of a per-task process: a pipe that holds the
// task's payload, then EOF. A payload the pipe takes whole is written
// before the fork, in one write(2), and the write end closed at once: no
// goroutine, no poller. A larger one goes through a taskPipe, which writes
// the rest as the process reads.
type payloadPipe struct {
	r    int       // the read end: the process's stdin
	rest *taskPipe // the write end of a payload larger than the pipe takes at once
}

func newPayloadPipe(payload []byte, wg *sync.WaitGroup) (*payloadPipe, error) {
	r, w, err := cloexecPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if len(payload) <= pipeTakesWhole {
		// An empty pipe takes this much in one write without blocking.
		err := writeWhole(w, payload)
		unix.Close(w)
		if err != nil {
			unix.Close(r)
			return nil, fmt.Errorf("write the payload: %w", err)
		}
		return &payloadPipe{r: r}, nil
	}
	if err := unix.SetNonblock(w, true); err != nil {
		unix.Close(r)
		unix.Close(w)
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	p := &payloadPipe{r: r, rest: newTaskPipe(os.NewFile(uintptr(w), "|1"), wg)}
	p.rest.write(payload)
	return p, nil
}

// started closes the launcher's copy of the read end once the process
// has it (ok) or its start failed; the write end of a large payload then
// closes when the payload is written, or at once.
func (p *payloadPipe) started(ok bool) {
	unix.Close(p.r)
	if p.rest == nil {
		return
	}
	if ok {
		p.rest.closeWhenWritten()
	} else {
		p.rest.Close()
	}
}

// writeWhole writes b to the blocking descriptor fd.
func writeWhole(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
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
