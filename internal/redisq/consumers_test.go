package redisq

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

// TestConsumersShareOneStream: three consumers, each with its own client
// (three hosts), work one stream; one dies holding entries it read. Every
// task gets exactly one result, carrying its carrier's trace id, and the
// dead consumer's entries are run by the others as attempt 2.
func TestConsumersShareOneStream(t *testing.T) {
	srv := redistest.Shared(t)
	stream, results := streamName(t, "tasks"), streamName(t, "results")
	const n = 600
	producer := dial(t, srv, stream, "g")
	lines := make([]string, n)
	for i := range n {
		lines[i] = fmt.Sprintf(`{"id":"t%d","payload":%d,"carrier":{"traceparent":"00-%032x-00f067aa0ba902b7-01"}}`, i, i, i+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pipe := producer.Redis().Pipeline()
	for _, l := range lines {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{TaskField, l}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	written := make(chan struct{}, n)
	var victimHeld []string
	var wg sync.WaitGroup
	for host := range 3 {
		c := dial(t, srv, stream, "g")
		s := newSource(t, c, WithConsumer(fmt.Sprintf("host%d", host)), WithClaimInterval(time.Second))
		sink := NewSink(c, results)
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := 0
			for ctx.Err() == nil {
				es, err := s.Read(ctx, 5)
				if err != nil {
					return
				}
				if host == 0 && done >= 50 { // dies holding what it just read
					for _, e := range es {
						victimHeld = append(victimHeld, e.Task.ID)
					}
					s.abandon()
					return
				}
				for _, e := range es {
					line := fmt.Sprintf(`{"id":%q,"status":"ok","attempts":%d,"trace_id":%q}`, e.Task.ID, e.Attempt, e.Task.Carrier["traceparent"][3:35])
					_, ok, err := sink.Put(ctx, []byte(line), e)
					if err != nil {
						return
					}
					if ok {
						written <- struct{}{}
					}
					done++
				}
			}
		}()
	}
	for range n {
		select {
		case <-written:
		case <-ctx.Done():
			t.Fatal("not every task got its result in time")
		}
	}
	cancel()
	wg.Wait()

	msgs, err := producer.Redis().XRange(context.Background(), results, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d results, want %d", len(msgs), n)
	}
	type result struct {
		ID       string `json:"id"`
		Attempts int    `json:"attempts"`
		TraceID  string `json:"trace_id"`
	}
	seen := map[string]result{}
	for _, m := range msgs {
		var r result
		if err := json.Unmarshal([]byte(m.Values[ResultField].(string)), &r); err != nil {
			t.Fatal(err)
		}
		if _, dup := seen[r.ID]; dup {
			t.Fatalf("task %s has two results", r.ID)
		}
		seen[r.ID] = r
	}
	for i := range n {
		r, ok := seen[fmt.Sprintf("t%d", i)]
		if !ok || r.TraceID != fmt.Sprintf("%032x", i+1) {
			t.Fatalf("task t%d: result %+v", i, r)
		}
	}
	if len(victimHeld) == 0 {
		t.Fatal("the dead consumer held nothing: the test did not test a death")
	}
	for _, id := range victimHeld {
		if seen[id].Attempts != 2 {
			t.Errorf("task %s, held by the dead consumer, ran as attempt %d, want 2", id, seen[id].Attempts)
		}
	}
	if p := pending(t, producer.Redis(), stream, "g"); len(p) != 0 {
		t.Fatalf("%d entries still pending", len(p))
	}
}
