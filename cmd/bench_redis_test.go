package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

const (
	redisBenchTasks   = 10000
	redisBenchHosts   = 2
	redisBenchWorkers = 2
)

// BenchmarkRedis (issue 15): 2 hosts × 2 persistent workers (the Go
// taskworker helper) working one Redis stream, results to a results stream
// (one atomic acknowledge-and-append per task), against the same 2 × 2
// workers each host fed its half of the tasks from a file, results to a
// file. Both include the hosts' start; every task is a CONSUMER span
// exported over OTLP/gRPC to a discarding sink. Reports tasks/s of both
// and their ratio (goal: Redis at least 0.5 of the file).
func BenchmarkRedis(b *testing.B) {
	if _, err := redistest.Binary(); err != nil {
		b.Skip(err)
	}
	srv, err := redistest.Start(redistest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	dir := b.TempDir()
	var files []string
	for h := range redisBenchHosts {
		name := filepath.Join(dir, fmt.Sprintf("tasks-%d", h))
		if err := os.WriteFile(name, []byte(benchInput(redisBenchTasks/redisBenchHosts)), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, name)
	}
	sink := otlptest.NewSink(b)
	env := helperEnv("taskworker", append([]string{"PATH=" + os.Getenv("PATH")}, sink.EnvFor(otlptest.ProtocolGRPC)...)...)
	args := []string{"--workers", strconv.Itoa(redisBenchWorkers), "--stop-grace", "30s"}
	r := benchRounds{}
	n := float64(redisBenchTasks)
	round := 0
	for b.Loop() {
		round++
		fwall := benchFromFiles(b, env, files, dir, args)
		rwall := benchFromRedis(b, env, srv, rdb, fmt.Sprintf("bench:%d", round), args)
		r.add("file-tasks/s", n/fwall.Seconds())
		r.add("redis-tasks/s", n/rwall.Seconds())
		r.add("ratio-file", fwall.Seconds()/rwall.Seconds())
	}
	r.report(b)
}

// benchFromFiles runs one host per file to its end and returns the wall
// time until the last one exited.
func benchFromFiles(b *testing.B, env []string, files []string, dir string, args []string) time.Duration {
	b.Helper()
	start := time.Now()
	var cmds []*exec.Cmd
	for i, f := range files {
		out := filepath.Join(dir, "results-"+strconv.Itoa(i))
		c := exec.Command(benchBin(), append([]string{"--tasks", f, "--results", out}, append(args, os.Args[0])...)...)
		c.Env = env
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			b.Fatalf("otel-qrun from a file: %v", err)
		}
	}
	wall := time.Since(start)
	for i := range files {
		data, err := os.ReadFile(filepath.Join(dir, "results-"+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		if got := bytes.Count(data, []byte(`"status":"ok"`)); got != redisBenchTasks/redisBenchHosts {
			b.Fatalf("host %d: %d ok results", i, got)
		}
		os.Remove(filepath.Join(dir, "results-"+strconv.Itoa(i)))
	}
	return wall
}

// benchFromRedis loads the tasks into a new stream, starts the hosts and
// returns the wall time until the last result is in the results stream
// (XREAD BLOCK on it); then the hosts are stopped with SIGTERM.
func benchFromRedis(b *testing.B, env []string, srv *redistest.Server, rdb *redis.Client, stream string, args []string) time.Duration {
	b.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range redisBenchTasks {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{redisq.TaskField, fmt.Sprintf(`{"payload":%d}`, i)}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	results := stream + ":results"
	start := time.Now()
	var cmds []*exec.Cmd
	var stderr []*bytes.Buffer
	for range redisBenchHosts {
		c := exec.Command(benchBin(), append([]string{
			"--tasks", srv.URL(0, "?stream="+stream+"&group=bench"),
			"--results", srv.URL(0, "?stream="+results),
		}, append(args, os.Args[0])...)...)
		c.Env = env
		var e bytes.Buffer
		c.Stderr = &e
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		cmds, stderr = append(cmds, c), append(stderr, &e)
	}
	last, got := "0", 0
	for got < redisBenchTasks {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{results, last}, Block: 30 * time.Second, Count: 10000}).Result()
		if err != nil {
			b.Fatalf("results: %d of %d: %v", got, redisBenchTasks, err)
		}
		for _, m := range res[0].Messages {
			last = m.ID
			if bytes.Contains([]byte(fmt.Sprint(m.Values[redisq.ResultField])), []byte(`"status":"ok"`)) {
				got++
			}
		}
	}
	wall := time.Since(start)
	for i, c := range cmds {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			b.Fatalf("otel-qrun from Redis: %v\n%s", err, stderr[i].String())
		}
	}
	rdb.Del(ctx, stream, results)
	return wall
}
