package redistask

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/redistest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

func TestMain(m *testing.M) {
	code := redistest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// open returns a redisq Source on a stream of the test's own and the
// adapter over it, closed at the end.
func open(t *testing.T, cfg Config) (*Source, *redis.Client, string) {
	t.Helper()
	srv := redistest.Shared(t)
	stream := redistest.Key(t, "tasks")
	u, err := redisq.ParseURL(srv.URL(0, "?stream="+stream+"&group=g"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := redisq.Dial(u)
	t.Cleanup(func() { c.Close() })
	rs, err := redisq.NewSource(c, redisq.WithClaimInterval(time.Hour), redisq.WithBlock(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSource(rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, c.Redis(), stream
}

func add(t *testing.T, rdb *redis.Client, stream string, values ...[]any) []string {
	t.Helper()
	var ids []string
	for _, v := range values {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: v}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestSourceBackpressureAndStop: Next reads no more than Limit entries at
// once; Stop hands back what was read and not handed out (claimable at
// once, same attempt), then Next ends with io.EOF.
func TestSourceBackpressureAndStop(t *testing.T) {
	s, rdb, stream := open(t, Config{Limit: 3, MaxAttempts: 1})
	var values [][]any
	for range 10 {
		values = append(values, []any{redisq.TaskField, `{"payload":1}`})
	}
	ids := add(t, rdb, stream, values...)
	task, h, err := s.Next()
	if err != nil || task.ID != ids[0] || s.Attempts(h) != 0 {
		t.Fatalf("Next = %+v, %v", task, err)
	}
	p, err := rdb.XPending(context.Background(), stream, "g").Result()
	if err != nil || p.Count != 3 {
		t.Fatalf("pending after the first Next: %+v, %v; want 3 (the limit)", p, err)
	}
	attrs, err := s.Begin(h, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range attrs {
		found = found || (kv.Key == "messaging.message.id" && kv.Value.AsString() == ids[0])
	}
	if !found {
		t.Errorf("attributes %v lack the entry id", attrs)
	}
	if s.Stop() {
		t.Error("Stop reported a read under way")
	}
	if _, _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Stop = %v, want io.EOF", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// the two read and never handed out, and the started one, are all
	// claimable at once; the two unstarted keep their attempt number
	ext, err := rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: stream, Group: "g", Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(ext) != 3 {
		t.Fatalf("pending %+v, %v", ext, err)
	}
	for _, e := range ext {
		want := int64(0)
		if e.ID == ids[0] {
			want = 1
		}
		if e.Idle < 24*time.Hour || e.RetryCount != want {
			t.Errorf("entry %s: idle %v count %d; want handed back with count %d", e.ID, e.Idle, e.RetryCount, want)
		}
	}
}

// TestSourceEndsBadAndSpentEntries: an entry that is not a task ends
// invalid; one delivered more times than max_attempts ends lost, with the
// attempts made elsewhere.
func TestSourceEndsBadAndSpentEntries(t *testing.T) {
	s, rdb, stream := open(t, Config{Limit: 1, MaxAttempts: 1})
	ids := add(t, rdb, stream, []any{"job", "x"})
	_, h, err := s.Next()
	var ended *launcher.EndedError
	if !errors.As(err, &ended) || ended.Status != taskproto.StatusInvalid || ended.ID != ids[0] || h == nil {
		t.Fatalf("Next = %v", err)
	}
	// a second delivery (another consumer took it and died): attempt 2 of 1
	ids = add(t, rdb, stream, []any{redisq.TaskField, `{"id":"spent"}`})
	ctx := context.Background()
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "dead", Streams: []string{stream, ">"}, Count: 1, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	// idle for a year: claimed at once, as its second delivery
	if err := rdb.Do(ctx, "XCLAIM", stream, "g", "dead", 0, ids[0], "IDLE", int64(365*24*time.Hour/time.Millisecond), "JUSTID").Err(); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Next()
	if !errors.As(err, &ended) || ended.Status != taskproto.StatusLost || ended.ID != "spent" || ended.Attempts != 1 {
		t.Fatalf("Next = %v (%+v)", err, ended)
	}
}

// TestLagMetric: qrun.tasks.queued of this package is the group's lag.
func TestLagMetric(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	s, rdb, stream := open(t, Config{Limit: 1, Meter: mp})
	add(t, rdb, stream, []any{redisq.TaskField, "a"}, []any{redisq.TaskField, "b"}, []any{redisq.TaskField, "c"})
	if _, _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "qrun.tasks.queued" {
				continue
			}
			sum := m.Data.(metricdata.Sum[int64])
			if len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 2 {
				t.Fatalf("lag %+v, want 2", sum.DataPoints)
			}
			if v, _ := sum.DataPoints[0].Attributes.Value("messaging.destination.name"); v.AsString() != stream {
				t.Errorf("attributes %v", sum.DataPoints[0].Attributes)
			}
			return
		}
	}
	t.Fatal("no qrun.tasks.queued")
}
