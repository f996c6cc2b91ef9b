package launcher

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// slotState is where a worker slot is in its life; doc.go draws the
// transitions. Every change of a slot's state goes through the methods of
// slot below, and nothing else writes slot.state.
type slotState uint8

const (
	// slotEmpty: no process. The slot waits for its first start, a
	// restart, or (per task) a task.
	slotEmpty slotState = iota
	// slotStarting: a persistent worker runs and has said nothing on its
	// result descriptor yet (no readiness line, no reply).
	slotStarting
	// slotReady: a process runs and takes a task.
	slotReady
	// slotBusy: attempts are in flight on the process.
	slotBusy
	// slotStopping: the process was asked to stop; it takes no task and
	// its exit is awaited.
	slotStopping
)

func (st slotState) String() string {
	return [...]string{"empty", "starting", "ready", "busy", "stopping"}[st]
}

// attemptKey names one attempt of one task everywhere: on its timer, in the
// matching of a reply, and in the task's result. Task ids come from the
// input and may repeat, so seq, unique in a run, tells two tasks with the
// same id apart.
type attemptKey struct {
	task    string // the task's id
	attempt int    // the attempt number, from 1
	seq     uint64 // serial of the attempt in the run
}

// attempt is one try of a task on one worker process.
type attempt struct {
	key   attemptKey
	ts    *taskState
	slot  *slot
	w     *worker // the process the attempt was given to
	ctx   context.Context
	span  trace.Span
	begun time.Time   // when the attempt started (span start)
	clock time.Time   // when its timeout clock started: the write, or the worker's readiness
	timer *time.Timer // the timeout; nil without one
	over  bool        // ended: every later event about it is stale
	line  int         // persistent: the length of its task line
}

// worker is one running process, the leader of its own process group.
type worker struct {
	serial  uint64 // unique in the run: replies and timers name the process by it
	pid     int
	tree    *tree // the worker and every descendant
	started time.Time
	span    trace.Span // nil for a per-task process

	in          *taskPipe  // persistent: the worker's stdin; nil once closed
	heard       bool       // persistent: it wrote a readiness line or a reply
	announced   bool       // persistent: it wrote the readiness line
	answered    int        // persistent: tasks answered
	given       int        // persistent: tasks written to it
	replyEOF    bool       // persistent: its reply pipe was read to its end
	stdinClosed bool       // persistent: it closed its stdin (stdinClosed handled it)
	exit        *exitEvent // persistent: its exit, handled once replyEOF
	exitAt      time.Time  // when its exit was reaped
	unread      int        // persistent: bytes of task lines it left unread at its exit
	// silence is the timer of the run's one warning about a worker that
	// holds its first task without a reply (silentOver); nil when none
	// is armed. first is that task's attempt.
	silence *time.Timer
	first   *attempt
	// eofWait bounds the wait for its exit after it closed its result
	// descriptor during a task (closedResults); nil when none is armed.
	eofWait *time.Timer

	replace     Reason      // start a new worker for this reason when this one exits
	stopNow     bool        // stop at once, not after the task in flight
	startFailed bool        // did not become ready within start_timeout
	phase       stopPhase   // how far its stop has gone
	killed      bool        // the launcher sent SIGKILL
	timer       *time.Timer // the next step of its stop
}

// stopPhase is how far the stop of one worker has gone.
type stopPhase uint8

const (
	phaseRunning  stopPhase = iota
	phaseEOF                // stdin closed: the worker may finish and exit by itself
	phaseSignaled           // stop_signal sent
	phaseKilled             // SIGKILL sent
)

// slot is one worker position: QRUN_WORKER_INDEX, stable across restarts.
type slot struct {
	index    int
	state    slotState
	w        *worker
	inflight []*attempt // attempts given to w, oldest first; at most prefetch

	quick    int  // exits in a row before min_uptime: drives the backoff
	failures int  // failures in a row before min_uptime: drives the give-up
	finished bool // exited and is not restarted
	retiring bool // scaled down: removed when its worker exits
	pending  bool // a restart is scheduled
	// launching: per task, the spawner is starting the slot's process
	// (see launch); the slot has no worker yet and is not free.
	launching bool
	gen       int    // invalidates scheduled restarts
	start     Reason // start a worker for this reason at the next settle

	clientID attribute.KeyValue // messaging.client.id of its CONSUMER spans, built once
}

// launched records a new process in an empty slot. A persistent worker
// starts in slotStarting, any other process is at once ready.
func (s *slot) launched(w *worker, persistent bool) {
	s.w = w
	s.state = slotReady
	if persistent {
		s.state = slotStarting
	}
}

// heard records that a persistent worker has spoken on its result
// descriptor: it is past its start-up.
func (s *slot) heard() {
	if s.w == nil {
		return
	}
	s.w.heard = true
	if s.state == slotStarting {
		s.state = slotReady
	}
}

// take gives an attempt to the slot's process.
func (s *slot) take(a *attempt) {
	s.inflight = append(s.inflight, a)
	if s.state == slotReady || s.state == slotStarting {
		s.state = slotBusy
	}
}

// head is the oldest attempt in flight, or nil.
func (s *slot) head() *attempt {
	if len(s.inflight) == 0 {
		return nil
	}
	return s.inflight[0]
}

// release takes the attempt a out of the slot; it reports false when a is
// not in flight here (a stale event).
func (s *slot) release(a *attempt) bool {
	for i, x := range s.inflight {
		if x == a {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			if len(s.inflight) == 0 && s.state == slotBusy {
				s.state = slotReady
				if s.w != nil && s.w.span != nil && !s.w.heard {
					s.state = slotStarting
				}
			}
			return true
		}
	}
	return false
}

// stopping marks the slot's process as being stopped.
func (s *slot) stopping() {
	if s.w != nil {
		s.state = slotStopping
	}
}

// exited empties the slot and returns the attempts that were in flight.
func (s *slot) exited() []*attempt {
	left := s.inflight
	s.inflight, s.w, s.state = nil, nil, slotEmpty
	return left
}

// free reports whether a persistent worker's slot can take one more task;
// waitReady is true once the run knows its workers announce readiness.
func (s *slot) free(capacity int, waitReady bool) bool {
	w := s.w
	if w == nil || s.retiring || s.finished || w.replace != "" || w.stopNow || w.in == nil || len(s.inflight) >= capacity {
		return false
	}
	switch s.state {
	case slotReady:
		return true
	case slotBusy:
		return len(s.inflight) < capacity
	case slotStarting:
		return !waitReady
	}
	return false
}
