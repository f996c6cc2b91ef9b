package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// Benchmarks of the launcher's own cost (issue 14), each against baselines
// measured in the same run on the same machine: machines are shared and
// noisy, so read the ratios, not the absolute numbers. scripts/bench runs
// them and prints the goals as met or not met.
//
// Every round runs each variant once, interleaved, and ratios are taken
// per round; the reported figure is the median over the rounds. The
// launcher exports to an otlptest.Sink on loopback, which discards what it
// receives without decoding (a collector's cost is not the launcher's).
//
// QRUN_BENCH_BIN names another otel-qrun binary to measure instead of the
// one built from this tree. Baselines that need outside programs use these, and are left out (with
// a note in the benchmark log) when they are missing:
//   - QRUN_BENCH_OTEL_CLI, or otel-cli on PATH: the prefix baseline;
//   - tini on PATH: the prefix of a minimal PID 1;
//   - gcc: the task worker that costs nothing, the direct feeder and the
//     posix_spawn loop, all compiled from testdata/bench into a temporary directory.

// benchBin is the launcher under test: QRUN_BENCH_BIN when set (to
// measure another build, say the one before a change, with the same
// benchmarks), else the binary built for the tests.
func benchBin() string {
	if bin := os.Getenv("QRUN_BENCH_BIN"); bin != "" {
		return bin
	}
	return qrunBin
}

// benchRounds collects one value per round and per name.
type benchRounds map[string][]float64

func (r benchRounds) add(name string, v float64) { r[name] = append(r[name], v) }

// report reports the median of each name, in name order.
func (r benchRounds) report(b *testing.B) {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.ReportMetric(medianOf(r[name]), name)
	}
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var (
	cToolsOnce sync.Once
	cToolsDir  string
	cToolsErr  error
)

// cTool returns the path of testdata/bench/NAME.c compiled with gcc -O2,
// compiled once per test binary into a temporary directory (removed by
// TestMain).
func cTool(b *testing.B, name string) string {
	b.Helper()
	cToolsOnce.Do(func() {
		if _, err := exec.LookPath("gcc"); err != nil {
			cToolsErr = fmt.Errorf("no gcc: %w", err)
			return
		}
		cToolsDir, cToolsErr = os.MkdirTemp("", "otel-qrun-bench-")
		if cToolsErr != nil {
			return
		}
		for _, n := range []string{"taskworker", "spawnloop", "feeder"} {
			out, err := exec.Command("gcc", "-O2", "-o", filepath.Join(cToolsDir, n),
				filepath.Join("testdata", "bench", n+".c")).CombinedOutput()
			if err != nil {
				cToolsErr = fmt.Errorf("gcc %s.c: %v\n%s", n, err, out)
				return
			}
		}
	})
	if cToolsErr != nil {
		b.Skipf("C baselines unavailable: %v", cToolsErr)
	}
	return filepath.Join(cToolsDir, name)
}

// launcherKnowsFlag tells whether the built otel-qrun accepts flag.
func launcherKnowsFlag(b *testing.B, flag string) bool {
	b.Helper()
	out, err := exec.Command(benchBin(), "--help").CombinedOutput()
	if err != nil {
		b.Fatalf("otel-qrun --help: %v\n%s", err, out)
	}
	return bytes.Contains(out, []byte(flag+" "))
}

// procStat returns the user+system CPU time of process pid itself (not its
// children), from /proc/PID/stat.
func procStat(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read stat: %v", err)
	}
	// The command name may hold spaces: fields count from after ')'.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procStatus returns a field of /proc/PID/status as a number (VmRSS in
// KiB, Threads).
func procStatus(b *testing.B, pid int, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read status: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err != nil {
				b.Fatalf("status %s: %v", field, err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func rusageCPU(ps *os.ProcessState) time.Duration {
	ru := ps.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchInput(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"payload\":%d}\n", i)
	}
	return b.String()
}

const (
	persistentTasks   = 20000
	persistentWorkers = 4
)

func init() {
	workertest.Register("spanfloor", spanFloor)
}

// spanFloorParams are the parameters of the spanfloor helper.
type spanFloorParams struct {
	N int `json:"n"` // spans to start, end and export
}

// spanFloor is the helper behind the "floor" of BenchmarkPersistent: the
// OTel SDK work the launcher cannot avoid for a task when every task is a
// span exported, alone. It sets up the launcher's telemetry from the
// environment, starts and ends n CONSUMER spans with the attributes of a
// task span (and a result line's trace id), flushes them, and prints its
// own CPU time per span ("cpu_us_per_span F").
func spanFloor(p spanFloorParams) int {
	ctx := context.Background()
	sdk, err := telemetry.Setup(ctx, telemetry.WithEnviron(os.Environ()), telemetry.WithServiceName("otel-qrun"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "spanfloor:", err)
		return 1
	}
	tracer := sdk.TracerProvider.Tracer("github.com/otel-qrun/otel-qrun/launcher")
	base := trace.WithAttributes(
		attribute.String("messaging.system", "otel_qrun"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.operation.name", "process"),
		attribute.String("messaging.destination.name", "default"))
	client := attribute.String("messaging.client.id", "default/0")
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := range p.N {
		_, span := tracer.Start(ctx, "process default", trace.WithSpanKind(trace.SpanKindConsumer), base,
			trace.WithAttributes(attribute.String("messaging.message.id", strconv.Itoa(i)), client, attribute.Int("qrun.task.attempt", 1)),
			trace.WithNewRoot())
		_ = span.SpanContext().TraceID().String()
		span.End()
	}
	if err := sdk.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "spanfloor:", err)
		return 1
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	fmt.Printf("cpu_us_per_span %.3f\n", float64(cpu)/1e3/float64(p.N))
	return 0
}

// spanFloorCPU runs spanFloor for n spans exported with env and returns
// its CPU time per span.
func spanFloorCPU(b *testing.B, env []string, n int) time.Duration {
	b.Helper()
	c := exec.Command(os.Args[0])
	// The launcher's environment, its helper last: exec keeps the last
	// value of a variable, and env may name the worker's helper.
	c.Env = append(slices.Clip(env), workertest.Entries("spanfloor", spanFloorParams{N: n})...)
	out, err := c.Output()
	if err != nil {
		b.Fatalf("spanfloor: %v\n%s", err, out)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "cpu_us_per_span ")
	f, perr := strconv.ParseFloat(v, 64)
	if !ok || perr != nil {
		b.Fatalf("spanfloor printed %q", out)
	}
	return time.Duration(f * float64(time.Microsecond))
}

// BenchmarkPersistent: 4 persistent workers fed by otel-qrun, every task
// a CONSUMER span exported over OTLP/gRPC, against the same workers fed
// directly by a C loop (testdata/bench/feeder.c: one task in flight per
// worker, poll(2) on the replies) and by a Go loop ("direct-go": a
// goroutine per worker, as the launcher did before), and against each worker reading its
// share of the tasks from a file ("pipelined"). With prefetch 1 and, when
// the launcher knows --prefetch, 16. Two workers: "c", a C loop that costs
// next to nothing (testdata/bench/taskworker.c), so that the launcher's
// cost shows whole; and "go", the Go taskworker helper (it parses each
// task and encodes a JSON result), a light but real worker. Reports
// tasks/s, the ratios, and the CPU per task (µs) of the launcher and of the
// direct feeder, each without its workers; and the span floor (spanFloor):
// the CPU the SDK alone spends on a task's span, against the direct
// feeder's whole CPU per task.
func BenchmarkPersistent(b *testing.B) {
	feeder := cTool(b, "feeder")
	prefetch := launcherKnowsFlag(b, "--prefetch")
	if !prefetch {
		b.Log("note: otel-qrun has no --prefetch yet: prefetch 16 is not measured")
	}
	files := pipelinedInputs(b, persistentTasks, persistentWorkers)
	input := benchInput(persistentTasks)
	for _, wk := range []struct{ name, path string }{
		{"c", cTool(b, "taskworker")},
		{"go", os.Args[0]},
	} {
		b.Run("worker="+wk.name, func(b *testing.B) {
			sink := otlptest.NewSink(b)
			env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.EnvFor(otlptest.ProtocolGRPC)...)
			workerEnv := []string{"PATH=" + os.Getenv("PATH")}
			if wk.name == "go" {
				env = helperEnv("taskworker", env...)
				workerEnv = helperEnv("taskworker", workerEnv...)
			}
			args := []string{"--workers", strconv.Itoa(persistentWorkers), "--queue-limit", "64"}
			r := benchRounds{}
			n := float64(persistentTasks)
			for b.Loop() {
				wall, cpu := runPersistent(b, env, input, persistentTasks, append(args, wk.path)...)
				r.add("tasks/s", n/wall.Seconds())
				r.add("cpu-us/task", float64(cpu.Microseconds())/n)
				floor := spanFloorCPU(b, env, persistentTasks)
				r.add("span-floor-cpu-us/task", float64(floor.Nanoseconds())/1e3)
				var wall16 time.Duration
				if prefetch {
					var cpu16 time.Duration
					wall16, cpu16 = runPersistent(b, env, input, persistentTasks, append(args, "--prefetch", "16", wk.path)...)
					r.add("p16-tasks/s", n/wall16.Seconds())
					r.add("p16-cpu-us/task", float64(cpu16.Microseconds())/n)
				}

				dwall, dcpu, dtree := feedDirectly(b, feeder, workerEnv, wk.path, persistentTasks, persistentWorkers)
				r.add("direct-tasks/s", n/dwall.Seconds())
				r.add("direct-cpu-us/task", float64(dcpu.Microseconds())/n)
				r.add("ratio-floor-direct-cpu", float64(floor.Nanoseconds())/1e3/(float64(dcpu.Microseconds())/n))
				gwall, gcpu := feedDirectlyGo(b, workerEnv, wk.path, persistentTasks, persistentWorkers)
				r.add("direct-go-tasks/s", n/gwall.Seconds())
				r.add("direct-go-cpu-us/task", float64(gcpu.Microseconds())/n)
				r.add("ratio-direct-go", gwall.Seconds()/wall.Seconds())
				pwall, ptree := feedPipelined(b, workerEnv, wk.path, files)
				// The ceilings: the best ratio any launcher that exports a
				// span per task with this SDK could reach here, were its
				// only cost beyond the baseline's own (feeder, workers,
				// kernel: its whole process tree's CPU) the span floor,
				// and were all of it spread over every CPU.
				cpus := float64(runtime.NumCPU())
				r.add("ceiling-ratio-direct", ceiling(dwall, dtree, floor, n, cpus))
				r.add("ceiling-ratio-pipelined", ceiling(pwall, ptree, floor, n, cpus))
				r.add("direct-tree-cpu-us/task", float64(dtree.Microseconds())/n)
				r.add("pipelined-tree-cpu-us/task", float64(ptree.Microseconds())/n)
				r.add("pipelined-tasks/s", n/pwall.Seconds())

				r.add("ratio-direct", dwall.Seconds()/wall.Seconds())
				r.add("ratio-pipelined", pwall.Seconds()/wall.Seconds())
				if prefetch {
					r.add("p16-ratio-pipelined", pwall.Seconds()/wall16.Seconds())
				}
			}
			r.report(b)
			if n, _ := sink.Requests(); n == 0 {
				b.Fatal("no export reached the sink")
			}
		})
	}
}

// ceiling is the best ratio of a baseline's wall time to a launcher's for
// n tasks when the launcher needs, beyond the baseline's whole CPU time
// (tree), the span floor per task, and spreads it perfectly over cpus
// CPUs: the launcher's wall time is then at least (tree + n*floor)/cpus.
func ceiling(wall, tree, floor time.Duration, n, cpus float64) float64 {
	least := (tree.Seconds() + n*floor.Seconds()) / cpus
	return wall.Seconds() / least
}

// runPersistent runs otel-qrun --tasks - with args, feeding input through a
// pipe that stays open until all n results are read, and returns the wall
// time until the last result and the launcher's own CPU time by then
// (/proc/PID/stat, its workers not included).
func runPersistent(b *testing.B, env []string, input string, n int, args ...string) (wall, cpu time.Duration) {
	b.Helper()
	c := exec.Command(benchBin(), append([]string{"--tasks", "-"}, args...)...)
	c.Env = env
	in, err := c.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _, _ = io.WriteString(in, input) }()
	sc := bufio.NewScanner(out)
	ok := 0
	for i := 0; i < n && sc.Scan(); i++ {
		if bytes.Contains(sc.Bytes(), []byte(`"status":"ok"`)) {
			ok++
		}
	}
	wall = time.Since(start)
	cpu = procStat(b, c.Process.Pid)
	in.Close()
	_, _ = io.Copy(io.Discard, out)
	if err := c.Wait(); err != nil {
		b.Fatalf("otel-qrun: %v\n%s", err, stderr.String())
	}
	if ok != n {
		b.Fatalf("%d ok results, want %d\n%s", ok, n, stderr.String())
	}
	return wall, cpu
}

// feedDirectly runs the C feeder: workers workers fed n tasks, one in
// flight each. It returns the wall time, the feeder's own CPU time, and
// the CPU time of its whole tree (the feeder and the workers it waited
// for: wait4's rusage).
func feedDirectly(b *testing.B, feeder string, env []string, worker string, n, workers int) (wall, cpu, tree time.Duration) {
	b.Helper()
	c := exec.Command(feeder, strconv.Itoa(n), strconv.Itoa(workers), worker)
	c.Env = env
	var out, stderr bytes.Buffer
	c.Stdout, c.Stderr = &out, &stderr
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("feeder: %v\n%s", err, stderr.String())
	}
	wall = time.Since(start)
	for line := range strings.SplitSeq(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "cpu_us "); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("feeder: %q", line)
			}
			return wall, time.Duration(us) * time.Microsecond, rusageCPU(c.ProcessState)
		}
	}
	b.Fatalf("feeder printed no cpu_us: %q", out.String())
	return 0, 0, 0
}

// feedDirectlyGo is feedDirectly written in Go, as a Go launcher would
// do it without spans: a goroutine per worker writes a task line and reads
// the reply from fd 3, one task in flight. It returns the wall time and
// the CPU time of this process meanwhile (the feeder's).
func feedDirectlyGo(b *testing.B, env []string, worker string, n, workers int) (wall, cpu time.Duration) {
	b.Helper()
	type w struct {
		cmd     *exec.Cmd
		in      io.WriteCloser
		replies *bufio.Reader
	}
	cpu0, start := selfCPU(b), time.Now()
	ws := make([]w, workers)
	for i := range ws {
		rr, rw, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		c := exec.Command(worker)
		c.Env, c.ExtraFiles = env, []*os.File{rw}
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
		go func() {
			var line []byte
			for t := i; t < n; t += workers {
				line = taskproto.AppendWorkerTask(line[:0], taskproto.WorkerTask{
					ID: strconv.Itoa(t), Payload: strconv.AppendInt(nil, int64(t), 10), Attempt: 1})
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
		}()
	}
	for range ws {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), selfCPU(b) - cpu0
}

// pipelinedInputs writes, for each of workers workers, a file of its share
// of n task lines.
func pipelinedInputs(b *testing.B, n, workers int) []string {
	b.Helper()
	dir := b.TempDir()
	var files []string
	for i := range workers {
		var buf []byte
		for t := i; t < n; t += workers {
			buf = taskproto.AppendWorkerTask(buf, taskproto.WorkerTask{
				ID: strconv.Itoa(t), Payload: strconv.AppendInt(nil, int64(t), 10), Attempt: 1})
		}
		name := filepath.Join(dir, fmt.Sprintf("tasks-%d", i))
		if err := os.WriteFile(name, buf, 0o600); err != nil {
			b.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

// feedPipelined runs one worker per file, reading its tasks from the file
// and replying to /dev/null: the feeding that costs nothing. It returns
// the wall time and the workers' CPU time.
func feedPipelined(b *testing.B, env []string, worker string, files []string) (wall, tree time.Duration) {
	b.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	start := time.Now()
	var cmds []*exec.Cmd
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		c := exec.Command(worker)
		c.Env, c.Stdin, c.ExtraFiles = env, f, []*os.File{null}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			b.Fatal(err)
		}
		tree += rusageCPU(c.ProcessState)
	}
	return time.Since(start), tree
}

// BenchmarkPerTask: a fresh /bin/true per task, 4 at a time, by otel-qrun
// --per-task (a span per task exported over OTLP/gRPC), against xargs -P 4
// and a C loop of posix_spawn(3) (testdata/bench/spawnloop.c). Reports
// tasks/s and the CPU per spawn (ms): the rusage of the whole process tree
// (the runner, its children before exec, and true itself) over the tasks.
func BenchmarkPerTask(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	if _, err := exec.LookPath("xargs"); err != nil {
		b.Skip("no xargs(1)")
	}
	spawnloop := cTool(b, "spawnloop")
	const n = 500
	sink := otlptest.NewSink(b)
	env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.EnvFor(otlptest.ProtocolGRPC)...)
	input := benchInput(n)

	r := benchRounds{}
	for b.Loop() {
		c := exec.Command(benchBin(), "--tasks", "-", "--per-task", "--workers", "4", truePath)
		c.Env, c.Stdin = env, strings.NewReader(input)
		var out bytes.Buffer
		c.Stdout = &out
		wall, cpu := timeRun(b, c)
		if got := strings.Count(out.String(), `"status":"ok"`); got != n {
			b.Fatalf("%d ok results, want %d", got, n)
		}

		x := exec.Command("xargs", "-P", "4", "-n", "1", truePath)
		x.Stdin = strings.NewReader(strings.Repeat("x\n", n))
		xwall, xcpu := timeRun(b, x)

		swall, scpu := timeRun(b, exec.Command(spawnloop, strconv.Itoa(n), "4", truePath))

		r.add("tasks/s", n/wall.Seconds())
		r.add("xargs-tasks/s", n/xwall.Seconds())
		r.add("spawn-tasks/s", n/swall.Seconds())
		r.add("cpu-ms/spawn", cpu.Seconds()*1000/n)
		r.add("xargs-cpu-ms/spawn", xcpu.Seconds()*1000/n)
		r.add("spawn-cpu-ms/spawn", scpu.Seconds()*1000/n)
		r.add("ratio-xargs", xwall.Seconds()/wall.Seconds())
		r.add("cpu-ratio-spawn", cpu.Seconds()/scpu.Seconds())
	}
	r.report(b)
}

// timeRun runs c and returns its wall time and the CPU time of its whole
// process tree (wait4's rusage counts the children it waited for).
func timeRun(b *testing.B, c *exec.Cmd) (wall, cpu time.Duration) {
	b.Helper()
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", c.Path, err, stderr.String())
	}
	return time.Since(start), rusageCPU(c.ProcessState)
}

// BenchmarkWorkers: the launcher's OS threads and resident memory with 16,
// 64 and 256 idle workers (sh printing a line, then sleep), read from
// /proc/PID/status once every worker has started; also with --subreaper.
func BenchmarkWorkers(b *testing.B) {
	for _, workers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			sink := otlptest.NewSink(b)
			env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.EnvFor(otlptest.ProtocolGRPC)...)
			r := benchRounds{}
			for b.Loop() {
				for _, sub := range []bool{false, true} {
					threads, rss := idleWorkers(b, env, workers, sub)
					prefix := ""
					if sub {
						prefix = "subreaper-"
					}
					r.add(prefix+"threads", threads)
					r.add(prefix+"rss-MiB", rss/1024)
				}
			}
			r.report(b)
		})
	}
}

func idleWorkers(b *testing.B, env []string, workers int, subreaper bool) (threads, rssKiB float64) {
	b.Helper()
	// --verbose: the launcher logs "worker started" once it has recorded
	// a start, so the readings come after the bookkeeping of the last one.
	args := []string{"--workers", strconv.Itoa(workers), "--stop-grace", "10", "--verbose"}
	if subreaper {
		args = append(args, "--subreaper=true")
	}
	c := exec.Command(benchBin(), append(args, "--", "sh", "-c", "echo up; exec sleep 3600")...)
	c.Env = env
	out, err := c.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	errPipe, err := c.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	stderr := &stderrLines{} // the launcher's log, for failures
	started := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(errPipe)
		n := 0
		for sc.Scan() {
			stderr.mu.Lock()
			stderr.b.WriteString(sc.Text() + "\n")
			stderr.mu.Unlock()
			if bytes.Contains(sc.Bytes(), []byte("worker started")) {
				if n++; n == workers {
					close(started)
				}
			}
		}
	}()
	sc := bufio.NewScanner(out)
	for i := 0; i < workers; i++ {
		if !sc.Scan() {
			b.Fatalf("only %d of %d workers started\n%s", i, workers, stderr.String())
		}
	}
	select {
	case <-started:
	case <-logDone:
		b.Fatalf("the launcher logged fewer than %d starts\n%s", workers, stderr.String())
	}
	threads = procStatus(b, c.Process.Pid, "Threads")
	rssKiB = procStatus(b, c.Process.Pid, "VmRSS")
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, out)
	<-logDone
	if err := c.Wait(); err != nil {
		b.Fatalf("otel-qrun: %v\n%s", err, stderr.String())
	}
	return threads, rssKiB
}

// BenchmarkPrefix: the wall time otel-qrun -- true adds to true, against
// otel-cli exec and tini, all exporting (tini excepted) to the same sink,
// over gRPC and over HTTP. otel-qrun runs with traces only (as otel-cli)
// and with metrics too. Two bounds of the traces-only figure come with
// it: otel-qrun with OTEL_TRACES_EXPORTER=none (the SDK set up and its span
// recorded, nothing exported: what any exporter adds comes on top) and
// with OTEL_SDK_DISABLED=true (no SDK: the launcher's own cost, its keeper
// and cgroups included). A bound's ratio to otel-cli at or above 1 means
// that no exporter, however cheap, could bring otel-qrun's ratio under 1
// in that round. Reports the medians of the added ms and of the per-round
// ratios to otel-cli's added time.
func BenchmarkPrefix(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	otelCLI := os.Getenv("QRUN_BENCH_OTEL_CLI")
	if otelCLI == "" {
		otelCLI, _ = exec.LookPath("otel-cli")
	}
	if otelCLI == "" {
		b.Log("note: no otel-cli (set QRUN_BENCH_OTEL_CLI): its baseline is not measured")
	}
	tini, _ := exec.LookPath("tini")
	if tini == "" {
		b.Log("note: no tini on PATH: its baseline is not measured")
	}
	// Both Go programs run from copies written the way an install writes
	// them. The Go linker writes its output through a memory mapping, and
	// on this machine an executable just linked (its pages in the page
	// cache as the linker left them) starts about a millisecond slower
	// than a copy of it: the launcher built for the tests, and an otel-cli
	// built for the benchmark, would both carry that millisecond.
	qrunCopy := installedCopy(b, benchBin())
	if otelCLI != "" {
		otelCLI = installedCopy(b, otelCLI)
	}
	for _, proto := range []string{otlptest.ProtocolGRPC, otlptest.ProtocolHTTP} {
		name := "grpc"
		if proto == otlptest.ProtocolHTTP {
			name = "http"
		}
		b.Run(name, func(b *testing.B) {
			sink := otlptest.NewSink(b)
			env := append([]string{"PATH=" + os.Getenv("PATH")}, sink.EnvFor(proto)...)
			tracesOnly := append(slices.Clone(env), "OTEL_METRICS_EXPORTER=none")
			cliArgs := []string{"exec", "--protocol", proto, "--endpoint", sink.Endpoint(proto), "-n", "true", "--"}
			if proto == otlptest.ProtocolGRPC {
				cliArgs = []string{"exec", "--protocol", proto, "--insecure", "--endpoint",
					strings.TrimPrefix(sink.Endpoint(proto), "http://"), "-n", "true", "--"}
			}
			r := benchRounds{}
			for b.Loop() {
				base := wallOf(b, nil, nil, truePath)
				qrun := exportingWall(b, sink, tracesOnly, qrunCopy, truePath) - base
				qrunM := exportingWall(b, sink, env, qrunCopy, truePath) - base
				// The bounds: no export, and no SDK at all.
				noExport := wallOf(b, append(slices.Clone(tracesOnly), "OTEL_TRACES_EXPORTER=none"), nil, qrunCopy, truePath) - base
				disabled := wallOf(b, append(slices.Clone(env), "OTEL_SDK_DISABLED=true"), nil, qrunCopy, truePath) - base
				r.add("qrun-noexport-added-ms", ms(noExport))
				r.add("qrun-disabled-added-ms", ms(disabled))
				r.add("true-ms", ms(base))
				r.add("qrun-added-ms", ms(qrun))
				r.add("qrun-metrics-added-ms", ms(qrunM))
				if otelCLI != "" {
					cli := exportingWall(b, sink, env, otelCLI, append(cliArgs, truePath)...) - base
					r.add("otelcli-added-ms", ms(cli))
					r.add("ratio-otelcli", qrun.Seconds()/cli.Seconds())
					r.add("ratio-metrics-otelcli", qrunM.Seconds()/cli.Seconds())
					r.add("ratio-noexport-otelcli", noExport.Seconds()/cli.Seconds())
					r.add("ratio-disabled-otelcli", disabled.Seconds()/cli.Seconds())
				}
				if tini != "" {
					r.add("tini-added-ms", ms(wallOf(b, nil, nil, tini, "-s", "--", truePath)-base))
				}
			}
			r.report(b)
		})
	}
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// installedCopy copies the executable path into a temporary directory with
// plain writes, as installing it (a package, an archive) does, and returns
// the copy's path.
func installedCopy(b *testing.B, path string) string {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(b.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		b.Fatal(err)
	}
	return dst
}

// wallOf runs path with args and env and returns its wall time.
func wallOf(b *testing.B, env []string, stdout io.Writer, path string, args ...string) time.Duration {
	b.Helper()
	c := exec.Command(path, args...)
	c.Env, c.Stdout = env, stdout
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", path, err, stderr.String())
	}
	return time.Since(start)
}

// exportingWall is wallOf for a program that must export to sink: a run
// that exported nothing is no fair comparison.
func exportingWall(b *testing.B, sink *otlptest.Sink, env []string, path string, args ...string) time.Duration {
	b.Helper()
	n0, _ := sink.Requests()
	d := wallOf(b, env, nil, path, args...)
	if n, _ := sink.Requests(); n == n0 {
		b.Fatalf("%s %s exported nothing to the sink", path, strings.Join(args, " "))
	}
	return d
}

// BenchmarkExit: the wall time of otel-qrun -- true when the collector
// refuses connections or accepts and never answers (blackholed), over gRPC
// (and refused over HTTP for reference), with the default shutdown_timeout
// of 3 s.
func BenchmarkExit(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	for _, tc := range []struct {
		name, proto string
		endpoint    func(testing.TB) string
	}{
		{"grpc-refused", otlptest.ProtocolGRPC, otlptest.Refused},
		{"grpc-blackhole", otlptest.ProtocolGRPC, otlptest.Blackhole},
		{"http-refused", otlptest.ProtocolHTTP, otlptest.Refused},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ep := tc.endpoint(b)
			env := []string{
				"PATH=" + os.Getenv("PATH"),
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + ep,
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + tc.proto,
				"OTEL_EXPORTER_OTLP_INSECURE=true",
				"OTEL_TRACES_EXPORTER=otlp",
				"OTEL_METRICS_EXPORTER=otlp",
			}
			r := benchRounds{}
			for b.Loop() {
				r.add("exit-s", wallOf(b, env, nil, benchBin(), "--shutdown-timeout", "3", truePath).Seconds())
			}
			r.add("shutdown-timeout-s", 3)
			r.report(b)
		})
	}
}
