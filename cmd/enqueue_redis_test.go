package cmd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

// TestEnqueueToRedis: enqueue --to appends the task line with its PRODUCER
// span's carrier to the stream, and a Source reads it back with that
// carrier.
func TestEnqueueToRedis(t *testing.T) {
	srv := redistest.Shared(t)
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		stream := redistest.Key(t, "enqueue")
		url := srv.URL(0, "?stream="+stream+"&group=workers")
		env := append([]string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0", "TRACEPARENT=" + inheritedTP}, r.Env()...)
		res := runQrun(t, env, "enqueue", "--to", url, "--id", "mail-9", `{"to": "a@b"}`)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		entryID := strings.TrimSuffix(res.stdout, "\n")
		if strings.Count(res.stdout, "\n") != 1 || !strings.Contains(entryID, "-") {
			t.Fatalf("stdout %q, want one entry id", res.stdout)
		}

		u, err := redisq.ParseURL(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := redisq.Dial(u)
		defer c.Close()
		src, err := redisq.NewSource(c, redisq.WithClaimInterval(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		defer src.Close(ctx)
		var es []*redisq.Entry
		for len(es) == 0 {
			if es, err = src.Read(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		e := es[0]
		if e.ID != entryID || e.Err != nil || e.Task.ID != "mail-9" || string(e.Task.Payload) != `{"to":"a@b"}` {
			t.Fatalf("entry %s %+v %v", e.ID, e.Task, e.Err)
		}

		spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 1 }, 20*time.Second)
		if len(spans) != 1 {
			t.Fatalf("%d spans:\n%s", len(spans), otlptest.DumpSpans(spans))
		}
		s := spans[0]
		if s.Name != "send "+stream || s.Kind != "producer" || s.TraceID != inheritedTrace || s.ParentSpanID != inheritedSpan {
			t.Errorf("span %q kind %s trace %s parent %s", s.Name, s.Kind, s.TraceID, s.ParentSpanID)
		}
		for k, v := range map[string]any{
			"messaging.system": "otel_qrun", "messaging.operation.type": "send",
			"messaging.destination.name": stream, "messaging.message.id": entryID,
			"qrun.broker": "redis", "server.address": "127.0.0.1",
		} {
			if s.Attrs[k] != v {
				t.Errorf("attribute %s = %v, want %v", k, s.Attrs[k], v)
			}
		}
		if want := "00-" + inheritedTrace + "-" + s.SpanID + "-01"; e.Task.Carrier["traceparent"] != want {
			t.Errorf("carrier %v, want traceparent %s", e.Task.Carrier, want)
		}
		if _, _, err := redisq.NewSink(c, stream+":results").Put(ctx, []byte(`{"id":"mail-9","status":"ok"}`), e); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEnqueueToRedisErrors(t *testing.T) {
	srv := redistest.Shared(t)
	for _, tc := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"not a redis url", "http://h/?stream=s", exitUsage, "invalid value for --to: invalid Redis URL"},
		{"no stream", "redis://:s3cretpw@h:1/0", exitUsage, "stream parameter is missing"},
		{"bad port", "redis://:s3cretpw@h:x/0?stream=s", exitUsage, "does not parse as a URL"},
		{"wrong password", "redis://nobody:s3cretpw@" + srv.Addr() + "/0?stream=s", 1, "append a task to s at " + srv.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runQrun(t, enqueueEnv(), "enqueue", "--to", tc.url, "x")
			if res.code != tc.code || res.stdout != "" || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", res.code, res.stdout, res.stderr, tc.code, tc.want)
			}
			if strings.Contains(res.stderr, "s3cretpw") {
				t.Errorf("stderr holds the password: %s", res.stderr)
			}
		})
	}
	t.Run("password from REDIS_PASSWORD", func(t *testing.T) {
		res := runQrun(t, enqueueEnv("REDIS_PASSWORD=s3cretpw"), "enqueue", "--to", "redis://nobody@"+srv.Addr()+"/0?stream=s", "x")
		if res.code != 1 || !strings.Contains(res.stderr, "WRONGPASS") || strings.Contains(res.stderr, "s3cretpw") {
			t.Errorf("exit %d, stderr %q; want an AUTH failure without the password", res.code, res.stderr)
		}
	})
}

// TestConfigRedactsRedisURL: config shows a Redis URL of tasks or results
// with its user information masked.
func TestConfigRedactsRedisURL(t *testing.T) {
	env := helperEnv("env",
		"Q_CLUSTER_TASKS=redis://u:r3dispw@h:1/2?stream=tasks&group=g",
		`Q_CLUSTER={"results":"rediss://:s3cretjs@h/0?stream=res"}`)
	r := runQrun(t, env, "config", "--", "sh", "-c", "true")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"redis://[REDACTED]@h:1/2?stream=tasks&group=g", "rediss://[REDACTED]@h/0?stream=res"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range []string{"r3dispw", "s3cretjs"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("config output shows the secret %q:\n%s", secret, r.stdout)
		}
	}
}
