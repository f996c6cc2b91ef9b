package launcher_test

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// memTask is one task of memSource: a task, the attempts made before it
// came, or the error Next returns for it.
type memTask struct {
	task  taskproto.Task
	prior int
	err   error
	gone  bool // Begin says another launcher took it
}

// memSource is a launcher.TaskSource over a list, as a broker would be:
// it hands out its tasks, then waits for Stop. It records every call.
type memSource struct {
	mu       sync.Mutex
	tasks    []*memTask
	stop     chan struct{}
	stopped  sync.Once
	begun    chan string // task ids, at Begin
	returned []string
	written  []string
}

func newMemSource(tasks ...*memTask) *memSource {
	return &memSource{tasks: tasks, stop: make(chan struct{}), begun: make(chan string, 100)}
}

func (m *memSource) Next() (taskproto.Task, any, error) {
	m.mu.Lock()
	if len(m.tasks) > 0 {
		t := m.tasks[0]
		m.tasks = m.tasks[1:]
		m.mu.Unlock()
		return t.task, t, t.err
	}
	m.mu.Unlock()
	<-m.stop
	return taskproto.Task{}, nil, io.EOF
}

func (m *memSource) Stop() bool {
	m.stopped.Do(func() { close(m.stop) })
	return false
}

func (m *memSource) Attempts(h any) int { return h.(*memTask).prior }

func (m *memSource) Begin(h any, attempt int) ([]attribute.KeyValue, error) {
	t := h.(*memTask)
	m.begun <- t.task.ID
	if t.gone {
		return nil, launcher.ErrTaskGone
	}
	return []attribute.KeyValue{
		attribute.String("messaging.destination.name", "stream"),
		attribute.String("messaging.message.id", "entry-"+t.task.ID),
	}, nil
}

func (m *memSource) Return(h any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.returned = append(m.returned, h.(*memTask).task.ID)
	return nil
}

func (m *memSource) Written(h any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written = append(m.written, h.(*memTask).task.ID)
}

// memSink is a launcher.ResultSink that keeps the results.
type memSink struct {
	mu      sync.Mutex
	results map[string]taskproto.Result
	handles map[string]any
	arrived chan struct{}
}

func (s *memSink) Put(line []byte, h any) error {
	r, err := taskproto.ParseResult(line)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.results[r.ID], s.handles[r.ID] = r, h
	s.mu.Unlock()
	s.arrived <- struct{}{}
	return nil
}

func task(id, payload string) taskproto.Task {
	return taskproto.Task{ID: id, Payload: []byte(payload)}
}

// TestTaskSourceAndResultSink: tasks from a TaskSource go to the workers
// with their attempt counted on from Attempts; an EndedError ends a task
// without running it; a task Begin says is gone gets no result; the
// span carries Begin's attributes and is named after its destination;
// results go to the ResultSink with their handles; at a stop, tasks that
// never started are returned, not cancelled.
func TestTaskSourceAndResultSink(t *testing.T) {
	src := newMemSource(
		&memTask{task: task("a", `{"n":1}`)},
		&memTask{task: task("b", `{"n":1}`), prior: 2},
		&memTask{task: task("spent", `{}`), err: &launcher.EndedError{ID: "spent", Status: taskproto.StatusLost, Attempts: 1, Err: errors.New("spent elsewhere")}},
		&memTask{task: task("gone", `{}`), gone: true},
		&memTask{task: task("slow", `{"sleep_ms":500}`)},
		&memTask{task: task("q1", `{}`)},
		&memTask{task: task("q2", `{}`)},
	)
	sink := &memSink{results: map[string]taskproto.Result{}, handles: map[string]any{}, arrived: make(chan struct{}, 100)}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := startLauncher(t, nil, launcher.WithTaskSource(src), launcher.WithResultSink(sink),
		launcher.WithWorkers(1), launcher.WithQueueLimit(4), launcher.WithMaxAttempts(3),
		launcher.WithTracerProvider(tp), launcher.WithEnviron(helperEnviron("taskworker")))
	// a, b, spent have results; slow is running, q1 and q2 wait in the queue
	for range 3 {
		<-sink.arrived
	}
	for id := range src.begun {
		if id == "slow" {
			break
		}
	}
	h.sigs <- syscall.SIGTERM
	if status := h.wait(); status != 1 {
		t.Errorf("status %d, want 1 (spent ended lost)", status)
	}
	want := map[string]struct {
		status   taskproto.Status
		attempts int
	}{"a": {"ok", 1}, "b": {"ok", 3}, "spent": {"lost", 1}, "slow": {"ok", 1}}
	if len(sink.results) != len(want) {
		t.Errorf("results %v", sink.results)
	}
	for id, w := range want {
		r := sink.results[id]
		if r.Status != w.status || r.Attempts != w.attempts || sink.handles[id].(*memTask).task.ID != id {
			t.Errorf("task %s: %+v, want %s after %d attempts", id, r, w.status, w.attempts)
		}
	}
	if len(src.returned) != 2 || src.returned[0] != "q1" || src.returned[1] != "q2" {
		t.Errorf("returned %v, want q1 q2", src.returned)
	}
	if len(src.written) != 0 {
		t.Errorf("Written called with a ResultSink: %v", src.written)
	}
	for _, s := range rec.Ended() {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			if _, dup := attrs[kv.Key]; dup {
				t.Errorf("span %s: attribute %s twice", s.Name(), kv.Key)
			}
			attrs[kv.Key] = kv.Value
		}
		if s.SpanKind().String() != "consumer" {
			continue
		}
		if s.Name() != "process stream" || attrs["messaging.destination.name"].AsString() != "stream" ||
			attrs["messaging.message.id"].AsString() == "" || attrs["messaging.message.id"].AsString()[:6] != "entry-" {
			t.Errorf("span %s: %v", s.Name(), attrs)
		}
		if attrs["messaging.message.id"].AsString() == "entry-b" && attrs["qrun.task.attempt"].AsInt64() != 3 {
			t.Errorf("span of b: attempt %v, want 3", attrs["qrun.task.attempt"])
		}
	}
}

// TestTaskSourceToAWriter: with results written by the writer of
// WithTasks, the source is told of every line written.
func TestTaskSourceToAWriter(t *testing.T) {
	src := newMemSource(&memTask{task: task("a", `{}`)}, &memTask{task: task("b", `{}`)})
	rr, rw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	h := startLauncher(t, nil, launcher.WithTasks(nil, rw), launcher.WithTaskSource(src),
		launcher.WithEnviron(helperEnviron("taskworker")))
	buf := make([]byte, 4096)
	got := 0
	for got < 2 {
		n, err := rr.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range buf[:n] {
			if c == '\n' {
				got++
			}
		}
	}
	h.sigs <- syscall.SIGTERM
	if status := h.wait(); status != 0 {
		t.Errorf("status %d", status)
	}
	rw.Close()
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.written) != 2 {
		t.Errorf("written %v, want a and b", src.written)
	}
}
