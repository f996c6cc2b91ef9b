package launcher

import (
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// asyncSim drives the loop of a per-task run with asynchronous starts, as
// sim does for persistent workers: the spawner is the test, which answers
// the requests it holds in the order it chooses, and processes are inert
// trees with pids no process can have.
type asyncSim struct {
	t       *testing.T
	r       *supervisor
	tr      *taskRun
	pid     int
	held    []spawnRequest // requests not answered yet
	answers []spawnResult  // answers the loop has not taken
	read    int
}

func newAsyncSim(t *testing.T, workers int) *asyncSim {
	t.Helper()
	l, err := New([]string{"/bin/true"}, WithTasks(strings.NewReader(""), io.Discard), WithPerTask(true),
		WithWorkers(workers), WithStopGrace(time.Hour), WithTaskTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newSupervisor(l, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := &asyncSim{t: t, r: r, pid: 1 << 23}
	r.spawn = func(spawnRequest) (*tree, error) {
		t.Fatal("a per-task start waited for the spawner")
		return nil, nil
	}
	r.spawnAsync = func(req spawnRequest, mark any) {
		req.mark = mark
		s.held = append(s.held, req)
	}
	r.takeSpawned = func() []spawnResult {
		res := s.answers
		s.answers = nil
		return res
	}
	r.begin()
	s.tr = r.tasks
	s.tr.out.giveUp()
	s.tr.out = &resultWriter{r: r, limit: 1 << 30, pending: &resultBatch{},
		kick: make(chan struct{}, 1), progress: make(chan struct{}, 1)}
	t.Cleanup(func() {
		close(r.quit)
		r.devNull.Close()
		for _, req := range s.held {
			req.mark.(*launch).in.started(false)
		}
	})
	r.settle()
	return s
}

func (s *asyncSim) readTask() {
	s.read++
	s.tr.onRead(readEvent{task: taskproto.Task{ID: fmt.Sprintf("t%d", s.read), Payload: []byte(`"p"`)}})
	s.r.settle()
}

// answer ends the start of the i-th held request with a process (err nil)
// or err, and returns the process's pid.
func (s *asyncSim) answer(i int, err error) int {
	req := s.held[i]
	s.held = append(s.held[:i], s.held[i+1:]...)
	res := spawnResult{mark: req.mark, err: err}
	if err == nil {
		s.pid++
		res.t = inertTree(s.pid)
	}
	s.answers = append(s.answers, res)
	return s.pid
}

func (s *asyncSim) spawned() { s.r.onSpawned(); s.r.settle() }

func (s *asyncSim) exit(pid int, ws syscall.WaitStatus) {
	s.r.onExit(exitEvent{pid: pid, status: ws})
	s.r.settle()
}

func (s *asyncSim) results() map[string]taskproto.Result {
	out := map[string]taskproto.Result{}
	b := s.tr.out.pending
	for i, end := range b.ends {
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		res, err := taskproto.ParseResult(b.buf[start:end])
		if err != nil {
			s.t.Fatal(err)
		}
		if _, dup := out[res.ID]; dup {
			s.t.Errorf("two results for %s", res.ID)
		}
		out[res.ID] = res
	}
	return out
}

// A per-task start does not hold up the loop: both slots are launching at
// once, a slot takes no second task while launching, and the run cannot
// end before its starts have. A process may exit before the loop has its
// start (the spawner registers it first): the exit is handled with the
// start, and the task gets its result. A start that fails ends its
// attempt with the error.
func TestPerTaskAsyncStart(t *testing.T) {
	s := newAsyncSim(t, 2)
	for range 3 {
		s.readTask()
	}
	s.tr.onRead(readEvent{err: io.EOF})
	s.r.settle()
	if len(s.held) != 2 {
		t.Fatalf("%d starts asked of the spawner, want one per slot (2)", len(s.held))
	}
	for _, sl := range s.r.slots {
		if !sl.launching || sl.w != nil {
			t.Errorf("slot %d: launching %v, worker %v", sl.index, sl.launching, sl.w)
		}
	}
	if s.r.finished() {
		t.Fatal("the run is finished while processes are being started")
	}

	// t1's process exits before the loop sees its start.
	pid := s.answer(0, nil)
	s.exit(pid, 0)
	if len(s.results()) != 0 {
		t.Fatalf("a result before the start was seen: %v", s.results())
	}
	s.spawned()
	if r := s.results()["t1"]; r.Status != taskproto.StatusOK {
		t.Fatalf("task t1: %+v, want ok from the early exit", r)
	}
	if len(s.r.early) != 0 {
		t.Errorf("early exits kept: %v", s.r.early)
	}
	// Its slot took t3 at once; t2's start fails.
	if len(s.held) != 2 {
		t.Fatalf("%d starts held, want t2's and t3's", len(s.held))
	}
	s.answer(0, syscall.ENOENT)
	s.spawned()
	if r := s.results()["t2"]; r.Status != taskproto.StatusError || !strings.Contains(r.Error, "no such file") {
		t.Errorf("task t2: %+v, want the start's error", r)
	}
	pid = s.answer(0, nil)
	s.spawned()
	if w := s.r.slots[0].w; w == nil || w.pid != pid {
		t.Fatalf("slot 0's worker %+v, want pid %d", w, pid)
	}
	s.exit(pid, syscall.WaitStatus(3<<8))
	if r := s.results()["t3"]; r.Status != taskproto.StatusError || r.Error != "exit status 3" {
		t.Errorf("task t3: %+v", r)
	}
	s.tr.onDrained() // the input's reader is done
	if !s.r.shuttingDown || !s.r.finished() {
		t.Error("the run is not finished after every task")
	}
}

// A process whose start ends after the stop began is stopped at once: with
// the stop signal after a stop whose tasks ran out of stop_grace, with
// SIGKILL after a second stop signal; the run ends only after its exit.
func TestPerTaskStartEndsDuringStop(t *testing.T) {
	for _, second := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", second), func(t *testing.T) {
			s := newAsyncSim(t, 1)
			s.readTask()
			if len(s.held) != 1 {
				t.Fatalf("%d starts held", len(s.held))
			}
			s.r.onSignal(syscall.SIGTERM)
			if second {
				s.r.onSignal(syscall.SIGTERM)
			} else {
				s.tr.graceOver = true // stop_grace ran out with the task in flight
			}
			s.r.settle()
			if !s.r.shuttingDown {
				t.Fatal("not stopping")
			}
			s.tr.onDrained()
			if s.r.finished() {
				t.Fatal("finished while a process is being started")
			}
			pid := s.answer(0, nil)
			s.spawned()
			w := s.r.slots[0].w
			if w == nil || w.pid != pid {
				t.Fatalf("slot worker %+v, want pid %d", w, pid)
			}
			if second && !w.killed {
				t.Error("a process started after a second stop signal was not killed")
			}
			if !second && w.phase != phaseSignaled {
				t.Errorf("a process started during the stop is in phase %d, want signaled", w.phase)
			}
			s.exit(pid, syscall.WaitStatus(syscall.SIGKILL))
			if r := s.results()["t1"]; r.Status == "" {
				t.Error("no result for the task")
			}
			if !s.r.finished() {
				t.Error("not finished after the process exited")
			}
		})
	}
}
