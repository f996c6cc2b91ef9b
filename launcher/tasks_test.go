package launcher_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// taskHarness runs a launcher in task mode and collects its result lines.
type taskHarness struct {
	*harness
	results chan taskproto.Result
}

func startTasks(t *testing.T, in io.Reader, opts ...launcher.Option) *taskHarness {
	t.Helper()
	return startTasksCmd(t, nil, in, opts...)
}

// startTasksCmd is startTasks with the workers running argv.
func startTasksCmd(t *testing.T, argv []string, in io.Reader, opts ...launcher.Option) *taskHarness {
	t.Helper()
	rr, rw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	th := &taskHarness{results: make(chan taskproto.Result, 10000)}
	go func() {
		defer rr.Close()
		sc := bufio.NewScanner(rr)
		for sc.Scan() {
			res, err := taskproto.ParseResult(sc.Bytes())
			if err != nil {
				t.Errorf("result line %q: %v", sc.Text(), err)
				continue
			}
			th.results <- res
		}
		close(th.results)
	}()
	th.harness = startLauncher(t, argv, append([]launcher.Option{launcher.WithTasks(in, rw)}, opts...)...)
	go func() { <-th.returned; rw.Close() }()
	return th
}

// all waits for the launcher and returns every result by id, failing on a
// duplicate.
func (th *taskHarness) all(t *testing.T) (int, map[string]taskproto.Result) {
	t.Helper()
	status := th.wait()
	out := map[string]taskproto.Result{}
	for r := range th.results {
		if _, dup := out[r.ID]; dup {
			t.Errorf("two results for task %q", r.ID)
		}
		out[r.ID] = r
	}
	return status, out
}

func lines(n int, f func(i int) string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(f(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestTaskStatusesEachReportedOnce(t *testing.T) {
	input := strings.Join([]string{
		`{"id":"ok","payload":{"n":1}}`,
		`plain text line`,
		`{"id":"error","payload":{"fail":true}}`,
		`{"id":"timeout","payload":{"sleep_ms":60000},"timeout":0.3}`,
		`{"id":"lost","payload":{"crash":true}}`,
		`{"id":"garbage","payload":{"garbage":true}}`,
		`{"id":"wrong","payload":{"wrong_id":true}}`,
		`{"id": broken json`,
		`{"id":"last","payload":"no newline at the end"}`,
	}, "\n")
	th := startTasks(t, strings.NewReader(input), launcher.WithWorkers(2),
		launcher.WithEnviron(helperEnviron("taskworker")), launcher.WithStopGrace(2*time.Second))
	status, res := th.all(t)
	if status != 1 {
		t.Errorf("status %d, want 1 (not every task ended ok)", status)
	}
	want := map[string]taskproto.Status{
		"ok": "ok", "2": "ok", "error": "error", "timeout": "timeout", "lost": "lost",
		"garbage": "lost", "wrong": "lost", "8": "invalid", "last": "ok",
	}
	if len(res) != len(want) {
		t.Errorf("%d results, want %d: %v", len(res), len(want), res)
	}
	for id, st := range want {
		r, ok := res[id]
		if !ok || r.Status != st || (st != "invalid" && r.Attempts != 1) {
			t.Errorf("task %q: %+v, want status %s after 1 attempt", id, r, st)
		}
	}
	if r := res["error"]; r.Error != "failed on purpose" || r.Worker < 0 {
		t.Errorf("error result %+v", r)
	}
	if r := res["8"]; !strings.Contains(r.Error, "line 8") || r.Worker != -1 {
		t.Errorf("invalid result %+v", r)
	}
}

func TestTaskRetriesUpToMaxAttempts(t *testing.T) {
	input := `{"id":"third-time-lucky","payload":{"fail_until":3}}` + "\n" + `{"id":"never","payload":{"fail":true}}` + "\n"
	th := startTasks(t, strings.NewReader(input), launcher.WithMaxAttempts(3),
		launcher.WithEnviron(helperEnviron("taskworker")))
	status, res := th.all(t)
	if r := res["third-time-lucky"]; r.Status != "ok" || r.Attempts != 3 || !strings.Contains(string(r.Result), `"attempt":3`) {
		t.Errorf("retried task: %+v", r)
	}
	if r := res["never"]; r.Status != "error" || r.Attempts != 3 {
		t.Errorf("failing task: %+v", r)
	}
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
}

func TestTasksAllOKExitZero(t *testing.T) {
	th := startTasks(t, strings.NewReader(lines(50, strconv.Itoa)), launcher.WithWorkers(3),
		launcher.WithEnviron(helperEnviron("taskworker")))
	status, res := th.all(t)
	if status != 0 || len(res) != 50 {
		t.Fatalf("status %d with %d results, want 0 and 50", status, len(res))
	}
	for i := 1; i <= 50; i++ {
		if r := res[strconv.Itoa(i)]; r.Status != "ok" {
			t.Errorf("line %d: %+v", i, r)
		}
	}
}

func TestSIGKILLedWorkerLosesNoTask(t *testing.T) {
	const n = 1000
	th := startTasks(t, strings.NewReader(lines(n, func(i int) string { return `{"payload":{"sleep_ms":1}}` })),
		launcher.WithWorkers(4), launcher.WithMaxAttempts(2), launcher.WithEnviron(helperEnviron("taskworker")))
	ready := th.ready(4)
	for i := 0; i < 50; i++ { // let tasks flow
		<-th.results
	}
	syscall.Kill(ready[1].PID, syscall.SIGKILL)
	status, res := th.all(t)
	if got := len(res) + 50; got != n {
		t.Errorf("%d results for %d tasks", got, n)
	}
	for id, r := range res {
		if r.Status != "ok" {
			t.Errorf("task %s: %+v", id, r)
		}
	}
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
}

func TestSIGTERMCancelsWhatDidNotStart(t *testing.T) {
	const n = 3000
	th := startTasks(t, strings.NewReader(lines(n, func(i int) string { return `{"payload":{"sleep_ms":2}}` })),
		launcher.WithWorkers(4), launcher.WithEnviron(helperEnviron("taskworker")))
	seen := map[string]taskproto.Result{}
	for i := 0; i < 100; i++ {
		r := <-th.results
		seen[r.ID] = r
	}
	th.sigs <- syscall.SIGTERM
	status, rest := th.all(t)
	for id, r := range rest {
		if _, dup := seen[id]; dup {
			t.Errorf("two results for %s", id)
		}
		seen[id] = r
	}
	// Every task read has exactly one line: ids 1..k with no gap.
	ids := make([]int, 0, len(seen))
	counts := map[taskproto.Status]int{}
	for id, r := range seen {
		i, err := strconv.Atoi(id)
		if err != nil {
			t.Fatalf("id %q", id)
		}
		ids = append(ids, i)
		counts[r.Status]++
		if r.Status != "ok" && r.Status != "cancelled" {
			t.Errorf("task %s: %+v", id, r)
		}
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("gap in results: %d results, id %d at position %d", len(ids), id, i)
		}
	}
	if counts["cancelled"] == 0 || len(ids) >= n {
		t.Errorf("results %v for %d read of %d: the stop did not stop reading", counts, len(ids), n)
	}
	if status != 1 {
		t.Errorf("status %d, want 1 (tasks were cancelled)", status)
	}
}

func TestTaskTraceContinuesTheCarrier(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	const trace = "0af7651916cd43dd8448eb211c80319c"
	input := `{"id":"a","carrier":{"traceparent":"00-` + trace + `-b7ad6b7169203331-01"}}` + "\n" + `{"id":"b"}` + "\n"
	th := startTasks(t, strings.NewReader(input), launcher.WithEnviron(helperEnviron("taskworker")),
		launcher.WithTracerProvider(tp), launcher.WithPropagator(propagation.TraceContext{}))
	_, res := th.all(t)
	a, b := res["a"], res["b"]
	var got struct{ Traceparent string }
	json.Unmarshal(a.Result, &got)
	if a.TraceID != trace || !strings.HasPrefix(got.Traceparent, "00-"+trace+"-") || strings.Contains(got.Traceparent, "b7ad6b7169203331") {
		t.Errorf("task a: result trace %s, worker carrier %q; want the carrier's trace and a new span", a.TraceID, got.Traceparent)
	}
	if b.TraceID == "" || b.TraceID == trace {
		t.Errorf("task b without carrier: trace %q, want a new trace", b.TraceID)
	}
}

func TestRecycleReplacesWorkerAfterNTasks(t *testing.T) {
	th := startTasks(t, strings.NewReader(lines(5, strconv.Itoa)), launcher.WithRecycle(2),
		launcher.WithEnviron(helperEnviron("taskworker")))
	status, res := th.all(t)
	if status != 0 || len(res) != 5 {
		t.Fatalf("status %d, %d results", status, len(res))
	}
	starts := 0
	for _, r := range th.rest() {
		if r.Event == "ready" {
			starts++
		}
	}
	if starts != 3 {
		t.Errorf("%d worker starts for 5 tasks with recycle 2, want 3", starts)
	}
}

func TestPerTaskProcesses(t *testing.T) {
	input := "hello\nfail\n" + `{"id":"slow","payload":"sleep","timeout":0.3}` + "\n" + `{"id":"obj","payload":{"k":[1,2]}}` + "\n"
	th := startTasks(t, strings.NewReader(input), launcher.WithPerTask(true), launcher.WithWorkers(2),
		launcher.WithEnviron(helperEnviron("pertask")), launcher.WithStopGrace(time.Second))
	status, res := th.all(t)
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	for id, want := range map[string]taskproto.Status{"1": "ok", "2": "error", "slow": "timeout", "obj": "ok"} {
		if r := res[id]; r.Status != want {
			t.Errorf("task %s: %+v, want %s", id, r, want)
		}
	}
	if r := res["2"]; r.Error != "exit status 3" {
		t.Errorf("failed task's error %q, want the exit status", r.Error)
	}
	stdins := map[string]string{}
	for _, r := range th.rest() {
		stdins[r.Env["QRUN_TASK_ID"]] = r.Stdin
		if r.Env["QRUN_TASK_ATTEMPT"] != "1" {
			t.Errorf("QRUN_TASK_ATTEMPT=%q", r.Env["QRUN_TASK_ATTEMPT"])
		}
	}
	if stdins["1"] != "hello" || stdins["obj"] != `{"k":[1,2]}` {
		t.Errorf("payloads on stdin: %q", stdins)
	}
}
