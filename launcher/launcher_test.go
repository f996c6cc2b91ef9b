package launcher_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
	"golang.org/x/sys/unix"
)

func TestNewResolvesCommand(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
		path string
		want error
	}{
		{"missing in PATH", []string{"qrun-no-such-command"}, dir, launcher.ErrNotFound},
		{"missing path", []string{filepath.Join(dir, "nope")}, dir, launcher.ErrNotFound},
		{"not executable", []string{plain}, dir, launcher.ErrNotExecutable},
		{"not executable in PATH", []string{"plain"}, dir, launcher.ErrNotExecutable},
		{"directory", []string{dir}, dir, launcher.ErrNotExecutable},
		{"found in PATH", []string{"sh"}, "/nonexistent:/bin:/usr/bin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := launcher.New(tt.argv, launcher.WithEnviron([]string{"PATH=" + tt.path}))
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%q) error = %v, want %v", tt.argv, err, tt.want)
			}
		})
	}
	for _, opt := range []launcher.Option{
		launcher.WithWorkers(0), launcher.WithRestart("sometimes"), launcher.WithGuardCycle(0),
		launcher.WithStopSignal(0), launcher.WithMaxRestarts(-1),
	} {
		if _, err := launcher.New([]string{"sh"}, opt); err == nil {
			t.Error("New accepted an invalid option")
		}
	}
}

func TestWorkerEnvironment(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	env := helperEnviron("env",
		"TRACEPARENT=00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
		"TRACESTATE=stale=1",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,service.instance.id=user-value,team=a%2Cb",
		"OTEL_METRICS_EXPORTER=prometheus",
		"OTEL_EXPORTER_PROMETHEUS_PORT=9500",
	)
	h := startLauncherWith(t, ctx, nil,
		launcher.WithWorkers(3), launcher.WithCluster("emails"), launcher.WithEnviron(env),
		launcher.WithTracerProvider(tp), launcher.WithPropagator(propagation.TraceContext{}))
	recs := h.ready(3)
	if st := h.wait(); st != 0 {
		t.Fatalf("status %d, want 0", st)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Index < recs[j].Index })
	ids := map[string]bool{}
	spans := map[string]bool{}
	for i, r := range recs {
		e := r.Env
		if e["QRUN_WORKER_INDEX"] != strconv.Itoa(i) || e["QRUN_WORKERS"] != "3" || e["QRUN_CLUSTER"] != "emails" {
			t.Errorf("worker %d: QRUN_* = %q %q %q", i, e["QRUN_WORKER_INDEX"], e["QRUN_WORKERS"], e["QRUN_CLUSTER"])
		}
		if got, want := e["OTEL_EXPORTER_PROMETHEUS_PORT"], strconv.Itoa(9501+i); got != want {
			t.Errorf("worker %d: prometheus port %s, want %s", i, got, want)
		}
		attrs := e["OTEL_RESOURCE_ATTRIBUTES"]
		if !strings.HasPrefix(attrs, "deployment.environment=prod,team=a%2Cb,service.instance.id=") ||
			!strings.HasSuffix(attrs, ",qrun.worker.index="+strconv.Itoa(i)) || strings.Contains(attrs, "user-value") {
			t.Errorf("worker %d: OTEL_RESOURCE_ATTRIBUTES = %q", i, attrs)
		}
		ids[attrs] = true
		tp := e["TRACEPARENT"]
		if !strings.HasPrefix(tp, "00-01020300000000000000000000000000-") || !strings.HasSuffix(tp, "-01") {
			t.Errorf("worker %d: TRACEPARENT = %q, want a child of the parent trace", i, tp)
		}
		spans[tp] = true
		if _, ok := e["TRACESTATE"]; ok {
			t.Errorf("worker %d: stale TRACESTATE %q was passed on", i, e["TRACESTATE"])
		}
		if e[workertest.HelperEnv] != "env" {
			t.Errorf("worker %d: lost an unrelated variable", i)
		}
	}
	if len(ids) != 3 || len(spans) != 3 {
		t.Errorf("workers share identities or spans: %v %v", ids, spans)
	}
}

func TestWorkerEnvironmentPassThroughWithoutPropagator(t *testing.T) {
	inherited := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("env", "TRACEPARENT="+inherited, "BAGGAGE=a=1")))
	r := h.ready(1)[0]
	h.wait()
	if r.Env["TRACEPARENT"] != inherited || r.Env["BAGGAGE"] != "a=1" {
		t.Errorf("inherited carrier changed: %q %q", r.Env["TRACEPARENT"], r.Env["BAGGAGE"])
	}
}

func TestArgvIsExecutedExactly(t *testing.T) {
	argv := []string{os.Args[0], "two words", `"quoted"`, "$HOME", "", "*", "a\nb", "--", "-x"}
	h := startLauncher(t, argv, launcher.WithEnviron(helperEnviron("env")))
	r := h.ready(1)[0]
	h.wait()
	if !reflect.DeepEqual(r.Args, argv[1:]) {
		t.Errorf("args = %q, want %q", r.Args, argv[1:])
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name    string
		workers int
		env     []string
		want    int
	}{
		{"zero", 1, helperEnviron("exit"), 0},
		{"own status", 1, helperEnvironWith("exit", workertest.Params{Exit: 3}), 3},
		{"killed by signal", 1, helperEnvironWith("selfkill", workertest.Params{Signal: 10}), 128 + 10},
		{"several all zero", 4, helperEnviron("exit"), 0},
		{"several failing", 3, helperEnvironWith("exit", workertest.Params{Exit: 9}), 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startLauncher(t, nil, launcher.WithWorkers(tt.workers), launcher.WithEnviron(tt.env))
			if got := h.wait(); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSpawnFailureStatus(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "bad-interpreter")
	if err := os.WriteFile(script, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := startLauncher(t, []string{script})
	if got := h.wait(); got != launcher.ExitNotFound {
		t.Errorf("status %d, want %d", got, launcher.ExitNotFound)
	}
}

func TestGracefulStop(t *testing.T) {
	tests := []struct {
		name string
		exit int
		want int
	}{
		{"exit 0 on TERM", 0, 0},
		{"exit 128+TERM", 143, 0},
		{"exit 1 on TERM", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startLauncher(t, nil, launcher.WithWorkers(2), launcher.WithEnviron(helperEnvironWith("trap", workertest.Params{Exit: tt.exit})))
			h.ready(2)
			h.sigs <- syscall.SIGTERM
			if got := h.wait(); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("context canceled", func(t *testing.T) {
		h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("signals")))
		h.ready(1)
		h.cancel()
		if got := h.wait(); got != 0 {
			t.Errorf("status %d, want 0", got)
		}
	})
	t.Run("died of the stop signal", func(t *testing.T) {
		h := startLauncher(t, nil, launcher.WithStopSignal(syscall.SIGINT), launcher.WithEnviron(helperEnviron("ignore")))
		r := h.ready(1)[0]
		h.sigs <- syscall.SIGTERM // the stop signal INT kills the TERM-ignoring helper
		if got := h.wait(); got != 0 {
			t.Errorf("status %d, want 0", got)
		}
		gone(t, r.PID)
	})
}

func TestStopKillsWorkersThatIgnoreTheStopSignal(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithWorkers(2), launcher.WithEnviron(helperEnviron("ignore")),
		launcher.WithStopGrace(300*time.Millisecond))
	recs := h.ready(2)
	h.sigs <- syscall.SIGTERM
	if got := h.wait(); got != 128+int(syscall.SIGKILL) {
		t.Errorf("status %d, want %d", got, 128+int(syscall.SIGKILL))
	}
	gone(t, recs[0].PID, recs[1].PID)
}

func TestSecondSignalKillsAtOnce(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("ignore")), launcher.WithStopGrace(time.Hour))
	r := h.ready(1)[0]
	h.sigs <- syscall.SIGTERM
	h.sigs <- syscall.SIGINT
	if got := h.wait(); got != 137 {
		t.Errorf("status %d, want 137", got)
	}
	gone(t, r.PID)
}

func TestGroupStopReachesGrandchildren(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("grandchild", workertest.Params{Exit: -1})),
		launcher.WithStopGrace(time.Second))
	r := h.ready(1)[0]
	if r.Child == 0 {
		t.Fatal("no grandchild reported")
	}
	h.sigs <- syscall.SIGTERM
	if got := h.wait(); got != 0 {
		t.Errorf("status %d, want 0", got)
	}
	gone(t, r.Child)
}

func TestLeftoversOfAnExitedWorkerAreStopped(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("grandchild")),
		launcher.WithStopGrace(300*time.Millisecond))
	r := h.ready(1)[0]
	if got := h.wait(); got != 0 {
		t.Errorf("status %d, want 0", got)
	}
	// Run returns only after the group is empty.
	if alive(r.Child) {
		t.Errorf("grandchild %d survived its worker", r.Child)
	}
}

func TestForwardedSignalsReachEveryWorker(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithWorkers(3), launcher.WithEnviron(helperEnviron("signals")))
	h.ready(3)
	sent := []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
	got := map[string]int{}
	for _, s := range sent {
		h.sigs <- s
		for i := 0; i < 3; i++ {
			r := h.next()
			got[r.Signal+"/"+r.Index]++
		}
		// Said at debug level (--verbose), so that a user can tell a
		// signal reached the launcher and went on.
		h.waitLog("forwarded "+unix.SignalName(s)+" to every worker's tree", map[string]string{"workers": "3"})
	}
	for _, s := range []string{"SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"} {
		for i := 0; i < 3; i++ {
			if got[s+"/"+strconv.Itoa(i)] != 1 {
				t.Errorf("worker %d got %s %d times; all: %v", i, s, got[s+"/"+strconv.Itoa(i)], got)
			}
		}
	}
	h.sigs <- syscall.SIGTERM
	if st := h.wait(); st != 0 {
		t.Errorf("status %d", st)
	}
}

func TestScaleWithTTINAndTTOU(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("signals")))
	first := h.ready(1)[0]
	h.sigs <- syscall.SIGTTIN
	second := h.ready(1)[0]
	if second.Index != "1" {
		t.Fatalf("added worker has index %q, want 1", second.Index)
	}
	h.sigs <- syscall.SIGTTOU
	h.waitLog("worker exited", map[string]string{"worker": "1"})
	gone(t, second.PID)
	h.sigs <- syscall.SIGTTOU // never below one worker
	h.waitLog("at least one must run", nil)
	h.sigs <- syscall.SIGTTIN // the freed index is reused
	third := h.ready(1)[0]
	if third.Index != "1" || !alive(first.PID) {
		t.Fatalf("after scaling: new index %q, first alive %v", third.Index, alive(first.PID))
	}
	h.sigs <- syscall.SIGTERM
	if st := h.wait(); st != 0 {
		t.Errorf("status %d", st)
	}
	if extra := h.rest(); len(extra) != 0 {
		t.Errorf("unexpected starts: %+v", extra)
	}
}

func TestRestartGivesUpAfterMaxRestarts(t *testing.T) {
	tests := []struct {
		maxRestarts int
		msg         string // the give-up message, counted correctly
	}{
		{0, "worker 0 failed before min_uptime (10s) and max_restarts is 0; giving up"},
		{1, "worker 0 keeps failing: 1 restart failed before min_uptime (10s); giving up"},
		{3, "worker 0 keeps failing: 3 restarts in a row each failed before min_uptime (10s); giving up"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.maxRestarts), func(t *testing.T) {
			h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("exit", workertest.Params{Exit: 3})),
				launcher.WithRestart(launcher.RestartOnFailure), launcher.WithMaxRestarts(tt.maxRestarts),
				launcher.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
			if st := h.wait(); st != 3 {
				t.Errorf("status %d, want 3", st)
			}
			if n := len(h.rest()); n != 1+tt.maxRestarts {
				t.Errorf("worker started %d times, want 1 + max_restarts = %d", n, 1+tt.maxRestarts)
			}
			h.waitLog(tt.msg, map[string]string{"level": "ERROR", "last_status": "3"})
		})
	}
}

// A launcher that is a plain prefix of one command (one worker, restart
// never, no task mode) passes the worker's status through as its own
// answer: the failure is logged at debug level, not as a warning. Every
// other configuration warns.
func TestWorkerFailureIsAWarningUnlessTransparent(t *testing.T) {
	tests := []struct {
		name  string
		opts  []launcher.Option
		level string
	}{
		{"one worker, never", nil, "DEBUG"},
		{"two workers", []launcher.Option{launcher.WithWorkers(2)}, "WARN"},
		{"on-failure", []launcher.Option{launcher.WithRestart(launcher.RestartOnFailure), launcher.WithMaxRestarts(0)}, "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]launcher.Option{launcher.WithEnviron(helperEnvironWith("exit", workertest.Params{Exit: 42}))}, tt.opts...)
			h := startLauncher(t, nil, opts...)
			if st := h.wait(); st != 42 {
				t.Errorf("status %d, want 42", st)
			}
			h.waitLog("worker failed", map[string]string{"level": tt.level, "status": "exit status 42"})
		})
	}
}

func TestRestartBackoffResetsAfterMinUptime(t *testing.T) {
	// Each run outlives min_uptime, so failures never count toward the give-up.
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("memory", workertest.Params{MB: 0})),
		launcher.WithRestart(launcher.RestartOnFailure), launcher.WithMaxRestarts(1),
		launcher.WithMinUptime(time.Millisecond))
	for i := 0; i < 4; i++ {
		r := h.ready(1)[0]
		time.Sleep(5 * time.Millisecond) // outlive min_uptime
		syscall.Kill(r.PID, syscall.SIGKILL)
	}
	h.ready(1)
	h.sigs <- syscall.SIGTERM
	if st := h.wait(); st != 0 {
		t.Errorf("status %d", st)
	}
}

func TestNeverPolicyStopsTheOthers(t *testing.T) {
	// Worker 1 dies of a signal, perhaps before worker 0 is even ready; the
	// launcher stops worker 0 and exits with worker 1's status.
	h := startLauncher(t, nil, launcher.WithWorkers(2),
		launcher.WithEnviron(helperEnvironWith("byindex", workertest.Params{ByIndex: []string{"trap", "selfkill"}, Signal: 10})))
	if st := h.wait(); st != 128+10 {
		t.Errorf("status %d, want %d", st, 128+10)
	}
	for _, r := range h.rest() {
		gone(t, r.PID)
	}
}

func TestFailureStopsSiblingsWithItsStatus(t *testing.T) {
	env := helperEnviron("trap")
	h := startLauncher(t, nil, launcher.WithWorkers(2), launcher.WithEnviron(env))
	recs := h.ready(2)
	syscall.Kill(recs[0].PID, syscall.SIGKILL)
	if st := h.wait(); st != 128+int(syscall.SIGKILL) {
		t.Errorf("status %d, want %d", st, 128+int(syscall.SIGKILL))
	}
	gone(t, recs[1].PID)
}

func TestShardsExitingZeroAreDone(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithWorkers(4), launcher.WithEnviron(helperEnviron("exit")),
		launcher.WithRestart(launcher.RestartOnFailure))
	if st := h.wait(); st != 0 {
		t.Errorf("status %d", st)
	}
	if n := len(h.rest()); n != 4 {
		t.Errorf("%d starts, want 4 (a worker that exits 0 is done)", n)
	}
}

func TestNoRestartDuringStop(t *testing.T) {
	h := startLauncher(t, nil, launcher.WithWorkers(2), launcher.WithEnviron(helperEnvironWith("trap", workertest.Params{Exit: 5})),
		launcher.WithRestart(launcher.RestartAlways), launcher.WithBackoff(time.Millisecond, time.Millisecond))
	h.ready(2)
	h.sigs <- syscall.SIGTERM
	if st := h.wait(); st != 5 {
		t.Errorf("status %d, want 5", st)
	}
	if extra := h.rest(); len(extra) != 0 {
		t.Errorf("workers restarted during the stop: %+v", extra)
	}
}

func TestMaxRSSRecyclesTheWorker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("max_rss needs /proc")
	}
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("memory", workertest.Params{MB: 96})),
		launcher.WithMaxRSS(48*1024), launcher.WithGuardCycle(20*time.Millisecond))
	first := h.ready(1)[0]
	second := h.ready(1)[0]
	if second.PID == first.PID || second.Index != "0" {
		t.Errorf("replacement %+v after %+v", second, first)
	}
	gone(t, first.PID)
	h.sigs <- syscall.SIGTERM
	h.wait()
}

func TestCPUAffinityRoundRobin(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("needs Linux and two CPUs")
	}
	h := startLauncher(t, nil, launcher.WithWorkers(2), launcher.WithCPUAffinity(1), launcher.WithEnviron(helperEnviron("affinity")))
	recs := h.ready(2)
	h.wait()
	seen := map[int]bool{}
	for _, r := range recs {
		if len(r.CPUs) != 1 {
			t.Fatalf("worker %s pinned to %v, want one CPU", r.Index, r.CPUs)
		}
		seen[r.CPUs[0]] = true
	}
	if len(seen) != 2 {
		t.Errorf("both workers on the same CPU: %+v", recs)
	}
}

func TestStdinGoesToASingleWorkerOnly(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			in, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			go func() { w.WriteString("hello"); w.Close() }()
			out, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			l, err := launcher.New([]string{os.Args[0]}, launcher.WithWorkers(n),
				launcher.WithEnviron(helperEnviron("stdin")), launcher.WithStdio(in, pw, os.Stderr))
			if err != nil {
				t.Fatal(err)
			}
			if st, err := l.Run(context.Background(), nil); st != 0 || err != nil {
				t.Fatalf("Run = %d, %v", st, err)
			}
			pw.Close()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var r record
				json.Unmarshal(sc.Bytes(), &r)
				want := ""
				if n == 1 {
					want = "hello"
				}
				if r.Stdin != want {
					t.Errorf("worker %s read %q, want %q", r.Index, r.Stdin, want)
				}
			}
		})
	}
}

// launcherProcess starts the "launcher" helper as a real process, returns
// it and the ready records of its workers.
func launcherProcess(t *testing.T, workers int, worker string, subreaper bool, params workertest.Params) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: workers, Worker: worker, WorkerParams: params, Subreaper: subreaper})
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func readRecords(t *testing.T, sc *bufio.Scanner, n int) []record {
	t.Helper()
	var out []record
	for len(out) < n && sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err == nil {
			out = append(out, r)
		}
	}
	if len(out) < n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

func TestKillingTheLauncherLeavesNoWorker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pdeathsig is Linux only")
	}
	cmd, sc := launcherProcess(t, 3, "ignore", false, workertest.Params{})
	recs := readRecords(t, sc, 3)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for _, r := range recs {
		gone(t, r.PID)
	}
}

func TestSubreaperReapsOrphansAndKeepsWorkerStatus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("subreaper is Linux only")
	}
	cmd, sc := launcherProcess(t, 2, "orphans", true, workertest.Params{N: 5, Exit: 7})
	readRecords(t, sc, 2)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("launcher exit = %v, want status 7 (the workers' status)", err)
	}
}

func TestSubreaperLeavesNoZombies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("subreaper is Linux only")
	}
	cmd, sc := launcherProcess(t, 1, "orphans", true, workertest.Params{N: 5, Exit: -1})
	recs := readRecords(t, sc, 6) // five orphans and the worker
	for _, r := range recs {
		if r.Event != "orphan" {
			continue
		}
		// Fully reaped: not even a zombie is left.
		deadline := time.Now().Add(5 * time.Second)
		for unix.Kill(r.Child, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("orphan %d was not reaped (zombies of the launcher: %d)", r.Child, zombies(cmd.Process.Pid))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("launcher: %v", err)
	}
}

// WithStarted's function runs once per Run, right after the first process
// is forked, however many start after it; a Run whose every start fails
// never calls it.
func TestStartedOnceAfterFirstFork(t *testing.T) {
	t.Run("restarts", func(t *testing.T) {
		var calls atomic.Int32
		h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("exit", workertest.Params{Exit: 3})),
			launcher.WithWorkers(2),
			launcher.WithRestart(launcher.RestartOnFailure), launcher.WithMaxRestarts(2),
			launcher.WithBackoff(5*time.Millisecond, 20*time.Millisecond),
			launcher.WithStarted(func() { calls.Add(1) }))
		h.wait()
		if n := len(h.rest()); n < 3 {
			t.Fatalf("%d starts, want the 2 workers and at least one restart", n)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("started called %d times, want once", n)
		}
	})
	t.Run("no start", func(t *testing.T) {
		// Found and executable, but its interpreter is missing: exec fails.
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		called := false
		l, err := launcher.New([]string{bad},
			launcher.WithStdio(nil, nil, nil), launcher.WithStarted(func() { called = true }))
		if err != nil {
			t.Fatal(err)
		}
		if status, err := l.Run(context.Background(), nil); err == nil && status == 0 {
			t.Error("Run of a command that cannot be executed: status 0")
		}
		if called {
			t.Error("started called though no process started")
		}
	})
}
