package redistask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// scope names the meter of the lag metric.
const scope = "github.com/otel-qrun/otel-qrun/internal/redistask"

// callTimeout bounds a Redis call made on the launcher's supervision loop
// (Begin) or per result (Put, Written): Redis being down delays the loop or
// the result writer by at most this much per call, and the result writer
// retries.
const callTimeout = 5 * time.Second

var (
	_ launcher.TaskSource      = (*Source)(nil)
	_ launcher.BatchResultSink = (*Sink)(nil)
)

// Config is what a Source needs of the launcher's configuration.
type Config struct {
	// Limit is the most entries held at once: workers + queue_limit (the
	// free worker slots plus queue_limit, counting those in flight).
	Limit int
	// MaxAttempts is the max_attempts key (0: no limit).
	MaxAttempts int
	// Meter, when not nil, gets qrun.tasks.queued: the group's lag.
	Meter metric.MeterProvider
	// Log gets the warnings of hand-backs and acknowledgements that failed.
	Log *slog.Logger
}

// Source is a launcher.TaskSource reading a redisq.Source. Next reads at
// most Limit entries minus those held; Stop ends the read under way.
type Source struct {
	src *redisq.Source
	cfg Config

	ctx    context.Context // ends at Stop: the read under way returns
	cancel context.CancelFunc

	mu      sync.Mutex
	buf     []*redisq.Entry // read, not yet handed out
	stopped bool
	reading bool
	reads   sync.WaitGroup

	backs     chan *redisq.Entry // entries to hand back, in the background
	backsDone chan struct{}
	reg       metric.Registration
	closeOnce sync.Once
	closeErr  error
}

// NewSource returns a Source over src. Close it after the launcher's run.
func NewSource(src *redisq.Source, cfg Config) (*Source, error) {
	if cfg.Limit < 1 {
		cfg.Limit = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Source{src: src, cfg: cfg, backs: make(chan *redisq.Entry, 1024), backsDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Meter != nil {
		if err := s.registerLag(cfg.Meter); err != nil {
			s.cancel()
			return nil, err
		}
	}
	go s.handBackLoop()
	return s, nil
}

// DestinationName is the stream's name: messaging.destination.name of the
// launcher's spans and task metrics (launcher.DestinationNamer).
func (s *Source) DestinationName() string { return s.src.Stream() }

// registerLag reports the group's lag as qrun.tasks.queued, with the
// source's bounded attributes, where Redis gives it (7.0 and later).
func (s *Source) registerLag(mp metric.MeterProvider) error {
	m := mp.Meter(scope)
	lag, err := m.Int64ObservableUpDownCounter("qrun.tasks.queued",
		metric.WithDescription("Entries in the task stream not yet delivered to the consumer group."),
		metric.WithUnit("{task}"))
	if err != nil {
		return fmt.Errorf("lag metric: %w", err)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(s.src.MetricAttributes()...))
	s.reg, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		n, ok, err := s.src.Lag(ctx)
		if err != nil || !ok {
			return nil // not known now: no point rather than a wrong one
		}
		o.ObserveInt64(lag, n, attrs)
		return nil
	}, lag)
	if err != nil {
		return fmt.Errorf("lag metric: %w", err)
	}
	return nil
}

// Next returns the next entry: a task, an *launcher.EndedError for an
// entry that is not a task (invalid) or whose attempts are spent (lost),
// io.EOF after Stop, or a Redis error that does not pass.
func (s *Source) Next() (taskproto.Task, any, error) {
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return taskproto.Task{}, nil, io.EOF
		}
		if len(s.buf) > 0 {
			e := s.buf[0]
			s.buf[0] = nil
			s.buf = s.buf[1:]
			s.mu.Unlock()
			return s.hand(e)
		}
		s.reading = true
		s.reads.Add(1)
		s.mu.Unlock()
		es, err := s.src.Read(s.ctx, max(s.cfg.Limit-s.src.Held(), 1))
		s.mu.Lock()
		s.reading = false
		stopped := s.stopped
		if !stopped {
			s.buf = append(s.buf, es...)
		}
		s.mu.Unlock()
		if stopped {
			s.handBack(es...)
		}
		s.reads.Done()
		if stopped {
			return taskproto.Task{}, nil, io.EOF
		}
		if err != nil && s.ctx.Err() == nil {
			return taskproto.Task{}, nil, err
		}
	}
}

// hand turns an entry into what Next returns.
func (s *Source) hand(e *redisq.Entry) (taskproto.Task, any, error) {
	switch {
	case e.Err != nil:
		return e.Task, e, &launcher.EndedError{ID: e.Task.ID, Status: taskproto.StatusInvalid, Err: e.Err}
	case e.Exhausted(s.cfg.MaxAttempts):
		return e.Task, e, &launcher.EndedError{ID: e.Task.ID, Status: taskproto.StatusLost, Attempts: e.Attempt - 1,
			Err: fmt.Errorf("entry %s was delivered %d times and max_attempts is %d: its last attempt's host went away", e.ID, e.Attempt, s.cfg.MaxAttempts)}
	}
	return e.Task, e, nil
}

// Stop ends the read under way (within redisq's block time) and hands
// back what was read and not handed out.
func (s *Source) Stop() bool {
	s.mu.Lock()
	s.stopped = true
	blocked := s.reading
	buf := s.buf
	s.buf = nil
	s.mu.Unlock()
	s.cancel()
	s.handBack(buf...)
	return blocked
}

// Attempts returns the attempts made before the entry came here: its
// delivery count less this delivery.
func (s *Source) Attempts(handle any) int {
	if e, ok := handle.(*redisq.Entry); ok {
		return max(e.Attempt-1, 0)
	}
	return 0
}

// Begin records the attempt in Redis (redisq.Source.Started) and returns
// the span attributes of the entry (redisq.Source.Attributes).
func (s *Source) Begin(handle any, attempt int) ([]attribute.KeyValue, error) {
	e, ok := handle.(*redisq.Entry)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := s.src.Started(ctx, e, attempt)
	if errors.Is(err, redisq.ErrNotHeld) {
		return nil, fmt.Errorf("entry %s: %w", e.ID, launcher.ErrTaskGone)
	}
	return s.src.Attributes(e), err
}

// Return hands the entry back to the group, in the background so that
// the loop does not wait on Redis. It never fails: an entry whose hand-back
// fails stays pending and is claimed after the claim interval.
func (s *Source) Return(handle any) error {
	if e, ok := handle.(*redisq.Entry); ok {
		s.handBack(e)
	}
	return nil
}

func (s *Source) handBack(es ...*redisq.Entry) {
	for _, e := range es {
		s.backs <- e
	}
}

// handBackLoop hands back entries in batches until Close.
func (s *Source) handBackLoop() {
	defer close(s.backsDone)
	for e := range s.backs {
		batch := []*redisq.Entry{e}
	more:
		for {
			select {
			case e, ok := <-s.backs:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		if err := s.src.HandBack(ctx, batch...); err != nil {
			s.cfg.Log.Warn("cannot hand entries back; they are claimed after claim_interval", "entries", len(batch), "error", err)
		}
		cancel()
	}
}

// Written acknowledges the entry once its result line is in a file or on
// stdout (at-least-once: see redisq.Source.Ack).
func (s *Source) Written(handle any) {
	e, ok := handle.(*redisq.Entry)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := s.src.Ack(ctx, e); err != nil {
		s.cfg.Log.Warn("cannot acknowledge an entry whose result was written; it will run again", "entry", e.ID, "error", err)
	}
}

// Close stops reading, waits for the read under way, hands back what is
// held (redisq.Source.Close) within ctx and removes the lag metric. It is
// idempotent.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.Stop()
		s.reads.Wait()
		close(s.backs)
		<-s.backsDone
		if s.reg != nil {
			_ = s.reg.Unregister()
		}
		s.closeErr = s.src.Close(ctx)
	})
	return s.closeErr
}

// Sink is a launcher.ResultSink appending to a redisq.Sink: with an entry
// of a Source on the same server, acknowledge and append are one step.
type Sink struct{ sink *redisq.Sink }

// NewSink returns a Sink over sink.
func NewSink(sink *redisq.Sink) *Sink { return &Sink{sink: sink} }

// Put appends the line, acknowledging the entry handle (nil for a task
// from lines); it gives up after a few seconds of Redis being down, and
// the launcher calls it again.
func (s *Sink) Put(line []byte, handle any) error {
	e, _ := handle.(*redisq.Entry)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, _, err := s.sink.Put(ctx, line, e)
	return err
}

// PutBatch appends many lines in one round trip (redisq.Sink.PutBatch),
// giving up after a few seconds of Redis being down.
func (s *Sink) PutBatch(lines [][]byte, handles []any) (int, error) {
	es := make([]*redisq.Entry, len(handles))
	for i, h := range handles {
		es[i], _ = h.(*redisq.Entry)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return s.sink.PutBatch(ctx, lines, es)
}
