package redisq

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

func TestMain(m *testing.M) {
	SetGoRedisLogger(slog.New(slog.DiscardHandler))
	code := redistest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// testCtx bounds a test's Redis calls, as a last resort.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// streamName returns a stream key unique to the test.
func streamName(t *testing.T, suffix string) string {
	return redistest.Key(t, suffix)
}

// dial returns a Client for the shared server's stream and group, closed
// at the end of the test.
func dial(t *testing.T, srv *redistest.Server, stream, group string, opts ...Option) *Client {
	t.Helper()
	q := "?stream=" + stream
	if group != "" {
		q += "&group=" + group
	}
	u, err := ParseURL(srv.URL(0, q), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := Dial(u, opts...)
	t.Cleanup(func() { c.Close() })
	return c
}

// newSource returns a Source closed at the end of the test.
func newSource(t *testing.T, c *Client, opts ...SourceOption) *Source {
	t.Helper()
	s, err := NewSource(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// abandon makes s behave as a host that died: it stops refreshing its
// entries and forgets them, without handing them back.
func (s *Source) abandon() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	clear(s.held)
	s.mu.Unlock()
}

// add appends task entries (field task) to stream and returns their ids.
func add(t *testing.T, rdb *redis.Client, stream string, tasks ...string) []string {
	t.Helper()
	ids := make([]string, len(tasks))
	for i, task := range tasks {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{TaskField, task}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// readN reads from s until it has n entries, reading at most n-got at a
// time.
func readN(t *testing.T, s *Source, n int) []*Entry {
	t.Helper()
	ctx := testCtx(t)
	var got []*Entry
	for len(got) < n {
		es, err := s.Read(ctx, n-len(got))
		if err != nil {
			t.Fatalf("Read after %d of %d entries: %v", len(got), n, err)
		}
		if len(es) > n-len(got) {
			t.Fatalf("Read(%d) returned %d entries", n-len(got), len(es))
		}
		got = append(got, es...)
	}
	return got
}

// pending returns the pending entries of the group by id.
func pending(t *testing.T, rdb *redis.Client, stream, group string) map[string]redis.XPendingExt {
	t.Helper()
	ps, err := rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 1000}).Result()
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]redis.XPendingExt, len(ps))
	for _, p := range ps {
		m[p.ID] = p
	}
	return m
}

// logRecorder is a slog handler that keeps messages and signals each one.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	ch   chan string
}

func newLogRecorder() *logRecorder { return &logRecorder{ch: make(chan string, 100)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	select {
	case l.ch <- r.Message:
	default:
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// waitFor waits for a message with prefix.
func (l *logRecorder) waitFor(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-l.ch:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("no log message %q", prefix)
		}
	}
}
