package launcher_test

import (
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// The tests of this file are the faults of issue 11, each as a user met
// it, with shell workers speaking the task protocol.

// shReply is a shell snippet that replies ok to the task line in $l.
const shReply = `id=${l#*\"id\":\"}; id=${id%%\"*}; echo "{\"id\":\"$id\",\"ok\":true}" >&3;`

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// shEnv is an environment for shell workers.
func shEnv() launcher.Option {
	return launcher.WithEnviron([]string{"PATH=" + os.Getenv("PATH")})
}

func wantStatuses(t *testing.T, res map[string]taskproto.Result, want map[string]taskproto.Status) {
	t.Helper()
	if len(res) != len(want) {
		t.Errorf("%d results, want %d: %+v", len(res), len(want), res)
	}
	for id, st := range want {
		if r, ok := res[id]; !ok || r.Status != st {
			t.Errorf("task %s: %+v, want %s", id, r, st)
		}
	}
}

func starts(th *taskHarness, event string) int {
	n := 0
	for _, r := range th.rest() {
		if r.Event == event {
			n++
		}
	}
	return n
}

// A worker whose task timed out is replaced before the next task goes
// anywhere: the next task ends ok on a new worker.
func TestTimedOutWorkerIsReplacedBeforeTheNextTask(t *testing.T) {
	in := `{"id":"a"}` + "\n" + `{"id":"b"}` + "\n"
	th := startTasksCmd(t, sh(`echo '{"event":"ready"}'; while read -r l; do case $l in *'"a"'*) sleep 60;; esac; `+shReply+` done`),
		strings.NewReader(in), shEnv(), launcher.WithTaskTimeout(300*time.Millisecond))
	status, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"a": "timeout", "b": "ok"})
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	if n := starts(th, "ready"); n != 2 {
		t.Errorf("%d workers started, want 2 (the timed-out one replaced)", n)
	}
}

// The same with the timeout on the task line.
func TestTaskLineTimeoutReplacesTheWorker(t *testing.T) {
	in := `{"id":"t1","payload":"slow","timeout":0.3}` + "\n" + `{"id":"t2","payload":"fast"}` + "\n"
	th := startTasksCmd(t, sh(`while read -r l; do case $l in *slow*) sleep 60;; esac; `+shReply+` done`),
		strings.NewReader(in), shEnv())
	_, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"t1": "timeout", "t2": "ok"})
}

// The late reply of a timed-out attempt is never credited to the next
// attempt. This worker answers the first task line only once it has read a
// second one (the retry, when the launcher keeps the worker), and answers
// on its way out when it gets the stop signal: both replies are late.
func TestLateReplyIsNeverCredited(t *testing.T) {
	late := `echo "{\"id\":\"a\",\"ok\":true}" >&3`
	worker := `trap '` + late + `; exit 0' TERM; read -r l1; read -r l2; ` + late + `; while read -r l; do :; done`
	th := startTasksCmd(t, sh(worker), strings.NewReader(`{"id":"a"}`+"\n"), shEnv(),
		launcher.WithTaskTimeout(200*time.Millisecond), launcher.WithMaxAttempts(3))
	status, res := th.all(t)
	if r := res["a"]; r.Status != "timeout" || r.Attempts != 3 {
		t.Errorf("task a: %+v, want timeout after 3 attempts", r)
	}
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
}

// A bad reply costs its own task only: the next task goes to a new worker.
func TestBadReplyDoesNotLoseTheNextTask(t *testing.T) {
	worker := `while read -r l; do case $l in *'"bad"'*) echo garbage >&3; continue;; esac; ` + shReply + ` done`
	in := `{"id":"bad","payload":"x"}` + "\n" + `{"id":"good","payload":"y"}` + "\n"
	for _, attempts := range []int{1, 2} {
		th := startTasksCmd(t, sh(worker), strings.NewReader(in), shEnv(), launcher.WithMaxAttempts(attempts))
		_, res := th.all(t)
		wantStatuses(t, res, map[string]taskproto.Status{"bad": "lost", "good": "ok"})
		if r := res["bad"]; r.Attempts != attempts || !strings.Contains(r.Error, "replied incorrectly") {
			t.Errorf("max_attempts %d: bad task %+v", attempts, r)
		}
	}
}

// A second SIGTERM during a task mode stop kills at once: the run ends
// long before a stop_grace of two minutes.
func TestSecondSIGTERMKillsAtOnceInTaskMode(t *testing.T) {
	worker := `trap '' TERM; echo '{"event":"busy"}'; while read -r l; do echo '{"event":"task"}'; sleep 600; done`
	th := startTasksCmd(t, sh(worker), strings.NewReader(`{"id":"slow"}`+"\n"), shEnv(),
		launcher.WithStopGrace(10*patience))
	for th.next().Event != "task" {
	}
	th.sigs <- syscall.SIGTERM
	th.sigs <- syscall.SIGTERM
	_, res := th.all(t)
	if r := res["slow"]; r.Status != "lost" {
		t.Errorf("task in flight: %+v, want lost", r)
	}
}

// At the end of the input, and on each recycle, a worker gets EOF on its
// stdin and time to flush before any signal.
func TestWorkersFlushAtEndOfInputAndRecycle(t *testing.T) {
	worker := `while read -r l; do ` + shReply + ` done; sleep 0.2; echo '{"event":"flushed"}'`
	for _, recycle := range []int{0, 1} {
		th := startTasksCmd(t, sh(worker), strings.NewReader(lines(4, func(i int) string { return `{"id":"` + string(rune('a'+i)) + `"}` })),
			shEnv(), launcher.WithRecycle(recycle))
		status, res := th.all(t)
		if status != 0 || len(res) != 4 {
			t.Errorf("recycle %d: status %d, %d results", recycle, status, len(res))
		}
		want := 1
		if recycle == 1 {
			want = 4
		}
		if n := starts(th, "flushed"); n != want {
			t.Errorf("recycle %d: %d workers flushed, want %d", recycle, n, want)
		}
	}
}

// SIGTTOU while every worker is busy retires one after its task: no task
// is lost.
func TestScaleDownWhileBusyLosesNoTask(t *testing.T) {
	gate := t.TempDir() + "/go"
	worker := `while read -r l; do echo '{"event":"task"}'; while [ ! -e ` + gate + ` ]; do sleep 0.05; done; ` + shReply + ` done`
	th := startTasksCmd(t, sh(worker), strings.NewReader("1\n2\n"), shEnv(), launcher.WithWorkers(2))
	for n := 0; n < 2; {
		if th.next().Event == "task" {
			n++
		}
	}
	th.sigs <- syscall.SIGTTOU
	th.waitLog("removing a worker", nil)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	status, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"1": "ok", "2": "ok"})
	if status != 0 {
		t.Errorf("status %d", status)
	}
}

// A task worker that crashes at start is restarted with backoff and given
// up on after max_restarts, like any worker; every task still gets its
// line.
func TestCrashLoopingTaskWorkerGivesUp(t *testing.T) {
	const n = 1000
	th := startTasksCmd(t, sh(`echo '{"event":"ready"}'; exit 3`), strings.NewReader(lines(n, func(i int) string { return "x" })),
		shEnv(), launcher.WithMaxRestarts(2), launcher.WithBackoff(time.Millisecond, 10*time.Millisecond))
	status, res := th.all(t)
	if status != 1 || len(res) != n {
		t.Errorf("status %d with %d results, want 1 and %d", status, len(res), n)
	}
	if got := starts(th, "ready"); got != 3 {
		t.Errorf("%d starts, want 3 (1 + max_restarts)", got)
	}
}

// A worker that closes its result descriptor and keeps running can no
// longer reply: its task ends lost and the worker is replaced, with no
// timeout set.
func TestClosedResultDescriptorEndsTheAttempt(t *testing.T) {
	th := startTasksCmd(t, sh(`echo '{"event":"ready"}'; exec 3>&-; while read -r l; do :; done`),
		strings.NewReader(`{"id":"a"}`+"\n"), shEnv())
	_, res := th.all(t)
	if r := res["a"]; r.Status != "lost" || !strings.Contains(r.Error, "result descriptor") {
		t.Errorf("task a: %+v", r)
	}
}

// A worker that announces readiness is not charged its start-up: with a
// start-up longer than the timeout, its tasks still end ok.
func TestStartupIsNotChargedToTheTask(t *testing.T) {
	worker := `sleep 1; echo '{"ready":true}' >&3; while read -r l; do ` + shReply + ` done`
	th := startTasksCmd(t, sh(worker), strings.NewReader("1\n2\n3\n"), shEnv(), launcher.WithRecycle(1),
		launcher.WithTaskTimeout(300*time.Millisecond), launcher.WithStartTimeout(patience))
	status, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"1": "ok", "2": "ok", "3": "ok"})
	if status != 0 {
		t.Errorf("status %d", status)
	}
}

// A worker that announces nothing within start_timeout, once workers are
// known to announce readiness, is replaced and counted as a failed start;
// its task is not charged.
func TestStartTimeoutReplacesASilentWorker(t *testing.T) {
	dir := t.TempDir()
	// The first worker announces; every later one hangs in start-up.
	worker := `if [ -e ` + dir + `/first ]; then sleep 600; fi; touch ` + dir + `/first; echo '{"ready":true}' >&3; ` +
		`while read -r l; do ` + shReply + ` done`
	th := startTasksCmd(t, sh(worker), strings.NewReader("1\n2\n"), shEnv(), launcher.WithRecycle(1),
		launcher.WithStartTimeout(200*time.Millisecond), launcher.WithMaxRestarts(1),
		launcher.WithBackoff(time.Millisecond, 10*time.Millisecond), launcher.WithStopGrace(time.Second))
	status, res := th.all(t)
	if r := res["1"]; r.Status != "ok" {
		t.Errorf("task 1: %+v", r)
	}
	if r := res["2"]; r.Status != "cancelled" || r.Attempts != 0 {
		t.Errorf("task 2: %+v, want cancelled without an attempt (its workers never started)", r)
	}
	if status != 1 {
		t.Errorf("status %d", status)
	}
}

// On a stop, every line the launcher read ahead gets its result.
func TestStopGivesEveryConsumedLineItsResult(t *testing.T) {
	path := t.TempDir() + "/tasks"
	if err := os.WriteFile(path, []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	th := startTasksCmd(t, sh(`while read -r l; do echo '{"event":"task"}'; sleep 600; done`), f, shEnv(),
		launcher.WithQueueLimit(1), launcher.WithStopGrace(100*time.Millisecond))
	for th.next().Event != "task" {
	}
	th.sigs <- syscall.SIGTERM
	_, res := th.all(t)
	off, _ := f.Seek(0, io.SeekCurrent)
	if off != 26 || len(res) != 12 {
		t.Errorf("%d bytes consumed of 26, %d results for 12 lines: %+v", off, len(res), res)
	}
}

// stuckWriter is a result stream that blocks until released, like a pipe
// whose reader sleeps.
type stuckWriter struct {
	release chan struct{}
	mu      sync.Mutex
	b       strings.Builder
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// A result stream that does not take lines never stops the loop: signals
// still stop the workers at once.
func TestStuckResultStreamNeverBlocksTheLoop(t *testing.T) {
	out := &stuckWriter{release: make(chan struct{})}
	h := startLauncher(t, nil, launcher.WithTasks(strings.NewReader(lines(200, func(int) string { return `{"payload":{"sleep_ms":1}}` })), out),
		launcher.WithEnviron(helperEnviron("taskworker")), launcher.WithStopGrace(10*patience))
	pid := h.ready(1)[0].PID
	h.sigs <- syscall.SIGTERM
	h.sigs <- syscall.SIGTERM
	gone(t, pid)
	close(out.release)
	h.wait()
	out.mu.Lock()
	defer out.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSuffix(out.b.String(), "\n"), "\n") {
		if _, err := taskproto.ParseResult([]byte(line)); err != nil {
			t.Errorf("result line %q: %v", line, err)
		}
	}
}

// fullDisk is a result stream that takes a few bytes of a write and then
// fails with ENOSPC, until space comes back.
type fullDisk struct {
	mu    sync.Mutex
	b     strings.Builder
	room  int
	fails int
	freed chan struct{}
}

func (d *fullDisk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.room >= len(p) {
		d.room -= len(p)
		return d.b.Write(p)
	}
	n := d.room
	d.b.Write(p[:n])
	d.room = 0
	d.fails++
	if d.fails == 3 {
		close(d.freed)
	}
	return n, &os.PathError{Op: "write", Path: "results", Err: syscall.ENOSPC}
}

func (d *fullDisk) free() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.room = 1 << 30
}

// A failed result write is retried when space comes back, and leaves no
// torn line.
func TestResultWriteRetriedAfterDiskFull(t *testing.T) {
	const n = 300
	disk := &fullDisk{room: 4000, freed: make(chan struct{})}
	h := startLauncher(t, nil, launcher.WithTasks(strings.NewReader(lines(n, func(int) string { return "x" })), disk),
		launcher.WithEnviron(helperEnviron("taskworker")))
	select {
	case <-disk.freed: // three failed writes
	case <-time.After(patience):
		t.Fatalf("no retry of the failed result write within %s", patience)
	}
	disk.free()
	status := h.wait()
	disk.mu.Lock()
	defer disk.mu.Unlock()
	got := strings.Split(strings.TrimSuffix(disk.b.String(), "\n"), "\n")
	for _, line := range got {
		if _, err := taskproto.ParseResult([]byte(line)); err != nil {
			t.Errorf("result line %q: %v", line, err)
		}
	}
	if len(got) != n {
		t.Errorf("%d result lines, want %d", len(got), n)
	}
	if status != 0 {
		t.Errorf("status %d, want 0 (every result was written in the end)", status)
	}
}

// A task worker over max_rss is replaced after its task, and gets EOF and
// time to flush before any signal.
func TestMaxRSSReplacesATaskWorkerCooperatively(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("max_rss needs /proc")
	}
	in, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	defer in.Close()
	th := startTasks(t, in, launcher.WithEnviron(helperEnviron("taskworker")),
		launcher.WithMaxRSS(48*1024), launcher.WithGuardCycle(20*time.Millisecond))
	first := th.ready(1)[0]
	feed.WriteString(`{"id":"big","payload":{"alloc_mb":96}}` + "\n")
	if r := <-th.results; r.ID != "big" || r.Status != "ok" {
		t.Fatalf("result %+v", r)
	}
	for rec := th.next(); rec.Event != "flushed" || rec.PID != first.PID; rec = th.next() {
	}
	second := th.ready(1)[0]
	feed.WriteString(`{"id":"next"}` + "\n")
	feed.Close()
	status, res := th.all(t)
	if r := res["next"]; r.Status != "ok" || status != 0 || second.PID == first.PID {
		t.Errorf("after the recycle: status %d, %+v", status, r)
	}
}

// readCalls is a reader that reports each Read before it waits, so a test
// knows when the launcher has consumed what was written and waits for more.
type readCalls struct {
	r     io.Reader
	calls chan struct{}
}

func (c readCalls) Read(p []byte) (int, error) {
	c.calls <- struct{}{}
	return c.r.Read(p)
}

// pipedInput is task input a test writes to through a pipe, knowing when
// the launcher's read waits for more (waitRead).
type pipedInput struct {
	t  *testing.T
	in readCalls
	w  *os.File
}

// newPipedInput makes a pipe whose ends are closed at the end of the test.
func newPipedInput(t *testing.T) *pipedInput {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); pr.Close() })
	return &pipedInput{t: t, in: readCalls{r: pr, calls: make(chan struct{}, 16)}, w: pw}
}

// waitRead waits until the launcher reads, or waits to read, once more.
func (p *pipedInput) waitRead() {
	p.t.Helper()
	select {
	case <-p.in.calls:
	case <-time.After(patience):
		p.t.Fatal("the launcher never read its input")
	}
}

// write writes s to the launcher's input.
func (p *pipedInput) write(s string) {
	p.t.Helper()
	if _, err := p.w.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// A stop while the read waits for the end of a line the launcher consumed
// in part (a producer on a pipe or FIFO cut short): that line gets a
// cancelled result under the id it shows already, what arrives after the
// stop is not taken, and the exit status says that a task did not end ok.
func TestStopCancelsTheLineItCut(t *testing.T) {
	p := newPipedInput(t)
	th := startTasksCmd(t, nil, p.in, launcher.WithEnviron(helperEnviron("taskworker")))
	result := func() taskproto.Result {
		t.Helper()
		select {
		case r := <-th.results:
			return r
		case <-time.After(patience):
			t.Fatal("no result")
		}
		return taskproto.Result{}
	}
	p.waitRead()
	p.write(`{"id":"whole","payload":1}` + "\n")
	if r := result(); r.ID != "whole" || r.Status != "ok" {
		t.Fatalf("first result %+v, want whole ok", r)
	}
	p.waitRead() // the read after the whole line
	p.write(`{"id":"cut-me","payload":{"a":`)
	p.waitRead() // the partial line consumed: the read waits for its end
	th.sigs <- syscall.SIGTERM
	if r := result(); r.ID != "cut-me" || r.Status != "cancelled" {
		t.Errorf("result of the cut line %+v, want cut-me cancelled", r)
	}
	// The rest of the line, and another, arrive after the stop: the read
	// that waited returns them, and they are not taken.
	p.write("1}}\n" + `{"id":"after"}` + "\n")
	p.w.Close()
	status, res := th.all(t)
	if len(res) != 0 {
		t.Errorf("results after the cut line's: %+v", res)
	}
	if status != 1 {
		t.Errorf("status %d, want 1 (a task was cancelled)", status)
	}
}

// A task followed by a blank line in one write, then a pause of the
// producer: the task is handed on before the read that waits (the blank
// line alone does not make Next return), so it runs, and a SIGTERM then
// leaves it its result. (The reading goroutine used to skip the blank line
// and wait with the task still in its batch: no result, exit 0.)
func TestBlankLineHoldsTaskAcrossStop(t *testing.T) {
	p := newPipedInput(t)
	th := startTasksCmd(t, nil, p.in, launcher.WithEnviron(helperEnviron("taskworker")), launcher.WithQueueLimit(8))
	p.waitRead()
	p.write(`{"id":"held","payload":1}` + "\n\n")
	p.waitRead() // the read after the blank line: it waits
	th.sigs <- syscall.SIGTERM
	status, res := th.all(t)
	if _, ok := res["held"]; !ok {
		t.Errorf("task held: no result (status %d), results %+v", status, res)
	}
}

// A worker replaced because its task timed out is the launcher's doing,
// not a crash, even when it ignores the stop signal and has to be killed:
// a task that always hangs ends timeout after its attempts, and the slot
// does not give up (max_restarts) on the tasks behind it.
func TestTimeoutReplacementIsNoCrash(t *testing.T) {
	// Only the hanging task has a timeout: the others may take long on
	// a loaded machine.
	input := `{"id":"hang","timeout":0.3,"payload":{"sleep_ms":600000,"ignore_term":true}}` + "\n" +
		lines(6, func(int) string { return `{"payload":1}` })
	th := startTasksCmd(t, nil, strings.NewReader(input), launcher.WithEnviron(helperEnviron("taskworker")),
		launcher.WithStopGrace(50*time.Millisecond),
		launcher.WithMaxRestarts(1), launcher.WithMinUptime(time.Hour), launcher.WithMaxAttempts(3),
		launcher.WithBackoff(time.Millisecond, time.Millisecond))
	status, res := th.all(t)
	if r := res["hang"]; r.Status != "timeout" || r.Attempts != 3 {
		t.Errorf("the hanging task: %+v, want timeout after 3 attempts", r)
	}
	for id, r := range res {
		if id != "hang" && r.Status != "ok" {
			t.Errorf("task %s: %+v, want ok", id, r)
		}
	}
	if len(res) != 7 || status != 1 {
		t.Errorf("%d results, status %d; want 7 and 1", len(res), status)
	}
}

// A plain command in persistent task mode never replies: once its first
// task has waited the silent-worker delay, the run says so, once for the
// whole run (here two workers each hold a silent first task), and the
// tasks' outcome does not change.
func TestSilentWorkerIsWarnedOncePerRun(t *testing.T) {
	in := `{"id":"a"}` + "\n" + `{"id":"b"}` + "\n"
	th := startTasksCmd(t, sh(`cat >/dev/null`), strings.NewReader(in), shEnv(),
		launcher.WithWorkers(2), launcher.WithMaxAttempts(1), launcher.WithStopGrace(100*time.Millisecond),
		launcher.WithSilentWait(20*time.Millisecond))
	var warning map[string]string
	timeout := time.After(patience)
	for warning == nil {
		select {
		case m := <-th.logs:
			if strings.Contains(m["msg"], "has not replied to its first task") {
				warning = m
			}
		case r := <-th.results:
			t.Fatalf("a result before the warning: %+v", r)
		case <-timeout:
			t.Fatalf("no warning within %s", patience)
		}
	}
	if warning["level"] != "WARN" || (warning["task"] != "a" && warning["task"] != "b") || warning["pid"] == "" ||
		(warning["worker"] != "0" && warning["worker"] != "1") || warning["after"] != "20ms" {
		t.Errorf("warning %v", warning)
	}
	for _, want := range []string{"fd 3", "QRUN_RESULT_FD", "docs/protocol.md", "--per-task", "timeout"} {
		if !strings.Contains(warning["msg"], want) {
			t.Errorf("warning %q does not mention %s", warning["msg"], want)
		}
	}
	th.cancel()
	_, res := th.all(t)
	for _, id := range []string{"a", "b"} {
		if r := res[id]; r.Status != "lost" {
			t.Errorf("task %s: %+v, want lost (stopped by the launcher)", id, r)
		}
	}
	for {
		select {
		case m := <-th.logs:
			if strings.Contains(m["msg"], "has not replied") {
				t.Errorf("a second warning: %v", m)
			}
			continue
		default:
		}
		break
	}
}

// A worker that replies is never warned about, however long its first
// task took: the reply stops the timer.
func TestReplyingWorkerIsNotWarned(t *testing.T) {
	th := startTasksCmd(t, sh(`while read -r l; do `+shReply+` done`),
		strings.NewReader(`{"id":"a"}`+"\n"), shEnv(), launcher.WithSilentWait(time.Hour))
	_, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"a": "ok"})
	for {
		select {
		case m := <-th.logs:
			if strings.Contains(m["msg"], "has not replied") {
				t.Errorf("warning for a worker that replied: %v", m)
			}
			continue
		default:
		}
		break
	}
}

// A worker whose process ends during a task closes its result descriptor
// as it exits: the task's error names how it ended, whichever of the two
// the launcher sees first.
func TestExitAfterClosingResultDescriptorIsNamed(t *testing.T) {
	for _, tc := range []struct{ script, want string }{
		{`read x; exit 2`, "exit status 2"},
		{`read x; kill -9 $$`, "killed by SIGKILL"},
		{`read x; exec 3>&-; exit 5`, "exit status 5"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			th := startTasksCmd(t, sh(tc.script), strings.NewReader(`{"id":"a"}`+"\n"), shEnv(),
				launcher.WithMaxAttempts(1), launcher.WithEOFExitWait(time.Hour))
			_, res := th.all(t)
			if r := res["a"]; r.Status != "lost" || r.Error != "worker died during the task: "+tc.want {
				t.Errorf("task a: %+v, want lost naming %q", r, tc.want)
			}
		})
	}
}
