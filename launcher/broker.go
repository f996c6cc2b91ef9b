package launcher

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// TaskSource is a task input other than lines: a broker that many
// launchers share (a Redis stream, internal/redistask), given with
// [WithTaskSource]. The launcher calls Next from one reading goroutine,
// only when its queue has room (queue_limit), and every other method from
// its supervision loop, so those must not block for long.
type TaskSource interface {
	// Next blocks until the next task. handle is the source's own mark of
	// the task, given back to the other methods and to the ResultSink
	// with its result. err is a *taskproto.LineError for an input that is
	// not a task (it gets the result invalid), an *EndedError for a task
	// the source ends without running, io.EOF when the source has no more
	// tasks (after Stop), any other error when reading failed for good.
	Next() (t taskproto.Task, handle any, err error)
	// Stop asks the source to hand out no more tasks: Next then returns
	// what the source still holds, then io.EOF. It reports whether a Next
	// is blocked on the broker at that moment: the launcher then does not
	// wait for it.
	Stop() (blocked bool)
	// Attempts returns how many attempts of the task were made before it
	// reached this launcher (by other launchers): its first attempt here is
	// number Attempts+1, and max_attempts counts them all.
	Attempts(handle any) int
	// Begin is called before attempt number attempt of the task starts and
	// returns attributes for its CONSUMER span (they replace those of the
	// same key). An error wrapping [ErrTaskGone] means the task is no
	// longer this launcher's (another took it): it is dropped without a
	// result. Any other error is logged and the attempt starts.
	Begin(handle any, attempt int) ([]attribute.KeyValue, error)
	// Return hands back a task none of whose attempts started here, when
	// the launcher stops: another launcher runs it, and it gets no result
	// here. With an error the task ends cancelled.
	Return(handle any) error
	// Written is called after the result line of the task was written by
	// a sink other than the source's own (a file, stdout): the source can
	// let go of the task.
	Written(handle any)
}

// DestinationNamer is a [TaskSource] that names where its tasks come from
// (a Redis stream): the launcher's CONSUMER spans ("process <name>") and
// task metrics then carry it as messaging.destination.name, as the
// messaging semantic conventions ask, instead of the cluster name.
type DestinationNamer interface {
	DestinationName() string
}

// ResultSink is where result lines go instead of the writer of
// [WithTasks], given with [WithResultSink]: a broker's stream. Put is
// called from the launcher's result-writer goroutine only.
type ResultSink interface {
	// Put stores one result line (ending in "\n") of the task whose
	// source handle is handle (nil for a task from lines). On an error,
	// Put is called again with the same line after a pause, so it should
	// give up within a few seconds rather than wait for the broker.
	Put(line []byte, handle any) error
}

// BatchResultSink is a ResultSink that also takes many lines in one call
// (one round trip to a broker): the result writer then gives it every
// line that ended while the previous batch was written.
type BatchResultSink interface {
	ResultSink
	// PutBatch stores lines[i] (each ending in "\n") for handles[i] and
	// returns how many lines, from the first, are stored; on an error the
	// rest are given again after a pause. The slices are only valid
	// during the call.
	PutBatch(lines [][]byte, handles []any) (done int, err error)
}

// ErrTaskGone is matched by the error of [TaskSource.Begin] when the task
// is no longer the launcher's to run.
var ErrTaskGone = errors.New("task no longer held")

// EndedError is a task that its source ends without running (Next): it
// gets the result Status ("lost" for a task whose attempts were all made
// by other launchers, "invalid" for an entry that is not a task) with
// Attempts and the message of Err (not nil).
type EndedError struct {
	ID       string
	Status   taskproto.Status
	Attempts int
	Err      error
}

// Error returns "task ID ended STATUS: " followed by the reason.
func (e *EndedError) Error() string {
	return fmt.Sprintf("task %s ended %s: %v", e.ID, e.Status, e.Err)
}

// Unwrap returns the reason.
func (e *EndedError) Unwrap() error { return e.Err }

// WithTaskSource turns on task mode with tasks from src instead of lines
// (with [WithTasks] too, src wins over its reader). Results go to the
// writer of [WithTasks] or to the sink of [WithResultSink]; after a result
// is written elsewhere than to a ResultSink, src is told (Written). The
// run ends when src ends (io.EOF after Stop) or on a stop signal.
func WithTaskSource(src TaskSource) Option { return func(c *config) { c.taskSrc = src } }

// WithResultSink sends result lines to s instead of the writer of
// [WithTasks].
func WithResultSink(s ResultSink) Option { return func(c *config) { c.resultSink = s } }

// taskMode reports whether the configuration asks for task mode.
func (c *config) taskMode() bool { return c.taskIn != nil || c.taskSrc != nil }

// chooseSource returns the task source of the configuration.
func (c *config) chooseSource() taskSource {
	if c.taskSrc != nil {
		return c.taskSrc
	}
	return newLineSource(c.taskIn, c.maxLine)
}

// destinationName is messaging.destination.name of the run's spans and
// task metrics: the source's own name (DestinationNamer), else the cluster
// name.
func (c *config) destinationName() string {
	if n, ok := c.taskSrc.(DestinationNamer); ok {
		if name := n.DestinationName(); name != "" {
			return name
		}
	}
	return c.cluster
}

// chooseSink returns the result sink of the configuration: a ResultSink,
// else the writer, which tells a TaskSource of each line written.
func (c *config) chooseSink() resultSink {
	if c.resultSink != nil {
		return &brokerSink{s: c.resultSink}
	}
	ws := &writerSink{w: c.taskResults}
	if c.taskSrc != nil {
		return &writtenSink{resultSink: ws, src: c.taskSrc}
	}
	return ws
}

// brokerSink puts the lines of a batch one by one into a ResultSink.
type brokerSink struct{ s ResultSink }

func (b *brokerSink) Put(batch *resultBatch, from int) (int, error) {
	if bs, ok := b.s.(BatchResultSink); ok {
		return b.putBatch(bs, batch, from)
	}
	start := 0
	for i, end := range batch.ends {
		if end > from {
			if err := b.s.Put(batch.buf[start:end], batch.handles[i]); err != nil {
				return start, err
			}
		}
		start = end
	}
	return len(batch.buf), nil
}

// putBatch gives the lines of batch from offset from to bs in one call.
func (b *brokerSink) putBatch(bs BatchResultSink, batch *resultBatch, from int) (int, error) {
	var lines [][]byte
	var handles []any
	var starts []int
	start := 0
	for i, end := range batch.ends {
		if end > from {
			lines = append(lines, batch.buf[start:end])
			handles = append(handles, batch.handles[i])
			starts = append(starts, start)
		}
		start = end
	}
	if len(lines) == 0 {
		return len(batch.buf), nil
	}
	done, err := bs.PutBatch(lines, handles)
	if done >= len(lines) {
		return len(batch.buf), err
	}
	return starts[done], err
}

// Abandon does nothing: a line is put whole or not at all.
func (b *brokerSink) Abandon(*resultBatch, int) {}

// writtenSink tells src of every line its sink wrote whole.
type writtenSink struct {
	resultSink
	src TaskSource
}

func (w *writtenSink) Put(b *resultBatch, from int) (int, error) {
	to, err := w.resultSink.Put(b, from)
	for i, end := range b.ends {
		if end > from && end <= to {
			w.src.Written(b.handles[i])
		}
	}
	return to, err
}

// beginAttempt asks a TaskSource before attempt number attempt of ts
// starts; false when the task is no longer the launcher's.
func (tr *taskRun) beginAttempt(ts *taskState, attempt int) ([]attribute.KeyValue, bool) {
	src, ok := tr.src.(TaskSource)
	if !ok {
		return nil, true
	}
	attrs, err := src.Begin(ts.handle, attempt)
	if errors.Is(err, ErrTaskGone) {
		tr.r.log.Warn("task taken over by another consumer; not running it here", "task", ts.t.ID, "error", err)
		return nil, false
	}
	if err != nil {
		tr.r.log.Warn("cannot record the attempt at the task source", "task", ts.t.ID, "attempt", attempt, "error", err)
	}
	return attrs, true
}

// priorAttempts returns the attempts made before a task reached this
// launcher.
func (tr *taskRun) priorAttempts(handle any) int {
	if src, ok := tr.src.(TaskSource); ok {
		return src.Attempts(handle)
	}
	return 0
}

// withAttrs returns base with the values of extra replacing those of the
// same key, and the other keys of extra added.
func withAttrs(base, extra []attribute.KeyValue) []attribute.KeyValue {
	if len(extra) == 0 {
		return base
	}
	out := make([]attribute.KeyValue, 0, len(base)+len(extra))
	seen := make(map[attribute.Key]bool, len(extra))
	for _, kv := range extra {
		seen[kv.Key] = true
	}
	for _, kv := range base {
		if !seen[kv.Key] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// destination is the messaging.destination.name among attrs (a TaskSource
// names its stream), else name: the CONSUMER span is "process <destination>".
func destination(name string, attrs []attribute.KeyValue) string {
	for _, kv := range attrs {
		if kv.Key == "messaging.destination.name" {
			return kv.Value.AsString()
		}
	}
	return name
}
