package redisq

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

// BenchmarkReadPut measures one consumer's round trip per task: Read (in
// batches of batch entries) and the atomic Put of its result, against a
// real local redis-server. b.N tasks are added before the timer starts.
func BenchmarkReadPut(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			srv := redistest.Shared(b)
			stream := fmt.Sprintf("bench:%d:%d", batch, time.Now().UnixNano())
			u, err := ParseURL(srv.URL(0, "?stream="+stream+"&group=g"), nil)
			if err != nil {
				b.Fatal(err)
			}
			c := Dial(u)
			defer c.Close()
			ctx := context.Background()
			pipe := c.Redis().Pipeline()
			for i := range b.N {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{TaskField, `{"id":"t` + strconv.Itoa(i) + `","payload":{"n":1},"carrier":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}`}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			s, err := NewSource(c)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			sink := NewSink(c, stream+":results")
			b.ResetTimer()
			for done := 0; done < b.N; {
				es, err := s.Read(ctx, min(batch, b.N-done))
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range es {
					if _, _, err := sink.Put(ctx, []byte(`{"id":"`+e.Task.ID+`","status":"ok","attempts":1}`), e); err != nil {
						b.Fatal(err)
					}
					done++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
