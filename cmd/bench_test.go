package cmd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// Benchmarks of task mode, each against a baseline measured in the same
// run on the same machine (scripts/bench runs them). Every launcher run has
// tracing on: a span per task, exported over OTLP/HTTP to a sink on
// loopback that discards what it receives (a collector's decoding is not
// the launcher's cost).

const benchTasks = 20000

func benchInput(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"payload\":%d}\n", i)
	}
	return b.String()
}

// BenchmarkPersistentDispatch: 4 persistent workers fed by otel-qrun,
// against the same 4 workers fed directly by the benchmark, one task in
// flight per worker as the launcher does (the limit).
func BenchmarkPersistentDispatch(b *testing.B) {
	sink := otlptest.NewSink(b)
	env := helperEnv("taskworker", sink.Env()...)
	input := benchInput(benchTasks)
	var viaLauncher, direct time.Duration
	for b.Loop() {
		viaLauncher += runTaskMode(b, env, input, benchTasks, "--workers", "4", "--queue-limit", "64", os.Args[0])

		start := time.Now()
		feedDirectly(b, env, benchTasks, 4)
		direct += time.Since(start)
	}
	reportRatio(b, viaLauncher, direct)
	if n, _ := sink.Requests(); n == 0 {
		b.Fatal("no export reached the sink")
	}
}

// runTaskMode runs otel-qrun --tasks - with args on input and returns how
// long it took, failing unless all n tasks ended ok.
func runTaskMode(b *testing.B, env []string, input string, n int, args ...string) time.Duration {
	start := time.Now()
	c := exec.Command(qrunBin, append([]string{"--tasks", "-"}, args...)...)
	c.Env, c.Stdin = env, strings.NewReader(input)
	var out bytes.Buffer
	c.Stdout = &out
	if err := c.Run(); err != nil {
		b.Fatalf("otel-qrun: %v", err)
	}
	d := time.Since(start)
	if got := strings.Count(out.String(), `"status":"ok"`); got != n {
		b.Fatalf("%d ok results, want %d", got, n)
	}
	return d
}

// feedDirectly starts workers task workers and sends them n tasks, one in
// flight per worker, reading each reply from fd 3.
func feedDirectly(b *testing.B, env []string, n, workers int) {
	type w struct {
		cmd     *exec.Cmd
		in      io.WriteCloser
		replies *bufio.Reader
	}
	ws := make([]w, workers)
	for i := range ws {
		rr, rw, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		c := exec.Command(os.Args[0])
		c.Env = append(env, "QRUN_RESULT_FD=3")
		c.ExtraFiles = []*os.File{rw}
		in, err := c.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		rw.Close()
		ws[i] = w{c, in, bufio.NewReader(rr)}
	}
	done := make(chan error, workers)
	for i := range ws {
		go func(i int) {
			var line []byte
			for t := i; t < n; t += workers {
				line = taskproto.AppendWorkerTask(line[:0], taskproto.WorkerTask{
					ID: fmt.Sprint(t), Payload: []byte(fmt.Sprint(t)), Attempt: 1})
				if _, err := ws[i].in.Write(line); err != nil {
					done <- err
					return
				}
				if _, err := ws[i].replies.ReadBytes('\n'); err != nil {
					done <- err
					return
				}
			}
			ws[i].in.Close()
			done <- ws[i].cmd.Wait()
		}(i)
	}
	for range ws {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerTaskVsXargs: a fresh /bin/true per task, 4 at a time, by
// otel-qrun --per-task against xargs -P 4.
func BenchmarkPerTaskVsXargs(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	if _, err := exec.LookPath("xargs"); err != nil {
		b.Skip("no xargs(1)")
	}
	const n = 500
	sink := otlptest.NewSink(b)
	env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.Env()...)
	input := benchInput(n)
	var viaLauncher, viaXargs time.Duration
	for b.Loop() {
		viaLauncher += runTaskMode(b, env, input, n, "--per-task", "--workers", "4", truePath)

		start := time.Now()
		x := exec.Command("xargs", "-P", "4", "-n", "1", truePath)
		x.Stdin = strings.NewReader(strings.Repeat("x\n", n))
		if err := x.Run(); err != nil {
			b.Fatalf("xargs: %v", err)
		}
		viaXargs += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/viaLauncher.Seconds(), "tasks/s")
	b.ReportMetric(float64(n*b.N)/viaXargs.Seconds(), "xargs-tasks/s")
	b.ReportMetric(viaXargs.Seconds()/viaLauncher.Seconds(), "ratio")
}

func reportRatio(b *testing.B, viaLauncher, direct time.Duration) {
	b.ReportMetric(float64(benchTasks*b.N)/viaLauncher.Seconds(), "tasks/s")
	b.ReportMetric(float64(benchTasks*b.N)/direct.Seconds(), "direct-tasks/s")
	b.ReportMetric(direct.Seconds()/viaLauncher.Seconds(), "ratio")
}

// BenchmarkStartupOverhead: otel-qrun -- true against true alone, with
// export to a local receiver (the added wall time of the launcher).
func BenchmarkStartupOverhead(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	sink := otlptest.NewSink(b)
	env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.Env()...)
	var viaLauncher, alone []time.Duration
	for b.Loop() {
		start := time.Now()
		c := exec.Command(qrunBin, truePath)
		c.Env = env
		if err := c.Run(); err != nil {
			b.Fatal(err)
		}
		viaLauncher = append(viaLauncher, time.Since(start))
		start = time.Now()
		if err := exec.Command(truePath).Run(); err != nil {
			b.Fatal(err)
		}
		alone = append(alone, time.Since(start))
	}
	ml, ma := median(viaLauncher), median(alone)
	b.ReportMetric(float64(ml.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(ma.Microseconds())/1000, "true-ms-median")
	b.ReportMetric(float64((ml-ma).Microseconds())/1000, "added-ms")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
