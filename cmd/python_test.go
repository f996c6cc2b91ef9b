package cmd

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/pyvenv"
)

// The Python tests run real workers under otel-qrun's Python bootstrap with
// the real OpenTelemetry Python SDK, distro and OTLP/HTTP exporter, in a
// virtualenv made once from the wheels in ../shared/wheels (internal/pyvenv),
// and Debian's gunicorn and Celery. The workers' batch delay is ten minutes:
// a span that arrives was flushed by the bootstrap or the SDK's shutdown,
// never by the timer.

// pyEnv is the environment of the Python tests: the receiver's, with a batch
// delay that only a flush beats, and extra.
func pyEnv(r *otlptest.Receiver, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "OTEL_SERVICE_NAME=pyapp",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=test"}
	env = append(env, r.Env()...)
	env = append(env, "OTEL_METRICS_EXPORTER=none", "OTEL_BSP_SCHEDULE_DELAY=600000")
	// The tests check that every process flushes, not how fast: on a
	// loaded machine a pure-Python export can take longer than the default
	// shutdown_timeout (3s), which bounds each Python process's flush, and
	// stop_grace, after which the tree is killed.
	env = append(env, "Q_CLUSTER_SHUTDOWN_TIMEOUT=60s", "Q_CLUSTER_STOP_GRACE=90s")
	return append(env, extra...)
}

// pyApp writes files into a new working directory.
func pyApp(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// appSpans are the spans the applications' own tracer ("app") made.
func appSpans(spans []otlptest.Span, name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if (s.Scope == "app" || s.Scope == "hook") && (name == "" || s.Name == name) {
			out = append(out, s)
		}
	}
	return out
}

// notifier is an HTTP server that workers call to say what they did; the
// test waits on it instead of on time.
type notifier struct {
	srv *httptest.Server
	ch  chan string
}

func newNotifier(t *testing.T) *notifier {
	n := &notifier{ch: make(chan string, 1000)}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.ch <- strings.TrimPrefix(r.URL.Path, "/")
		io.WriteString(w, "ok")
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// wait returns the next k notes, failing the test after a minute.
func (n *notifier) wait(t *testing.T, k int, stderr *stderrLines) []string {
	t.Helper()
	var got []string
	timeout := time.After(60 * time.Second)
	for len(got) < k {
		select {
		case s := <-n.ch:
			got = append(got, s)
		case <-timeout:
			t.Fatalf("got %d of %d notes %q; stderr:\n%s", len(got), k, got, stderr.String())
		}
	}
	return got
}

// stderrLines collects a process's stderr and tells who waits for a line.
type stderrLines struct {
	mu    sync.Mutex
	b     strings.Builder
	lines chan string
}

func (l *stderrLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startQrunIn starts the binary in dir; its stderr lines are collected and
// also sent to the returned buffer's lines channel.
func startQrunIn(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *stderrLines) {
	t.Helper()
	c := exec.Command(qrunBin, args...)
	c.Dir, c.Env = dir, env
	pipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	buf := &stderrLines{lines: make(chan string, 10000)}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			buf.mu.Lock()
			buf.b.WriteString(sc.Text() + "\n")
			buf.mu.Unlock()
			select {
			case buf.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		c.Process.Kill()
		<-done
		c.Wait()
	})
	return c, buf
}

// stopQrun sends SIGTERM to the launcher and waits for its exit status.
func stopQrun(t *testing.T, c *exec.Cmd, stderr *stderrLines) {
	t.Helper()
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("otel-qrun after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("otel-qrun still runs a minute after SIGTERM; stderr:\n%s", stderr.String())
	}
}

// pyTaskPy has no OpenTelemetry set-up: it starts one span with the API.
const pyTaskPy = `import os, sys
from opentelemetry import trace
payload = sys.stdin.read()
with trace.get_tracer("app").start_as_current_span("task work", attributes={"payload": payload.strip()}):
    pass
`

func TestPythonPerTaskProcessesContinueTheTaskTrace(t *testing.T) {
	python := pyvenv.Python(t)
	dir := pyApp(t, map[string]string{"task.py": pyTaskPy})
	r := otlptest.NewHTTP(t)
	res := runQrunIn(t, dir, pyEnv(r), "1\n2\n3\n", "--tasks", "-", "--per-task", "--instrument", "python", "--", python, "task.py")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	results := parseResults(t, res.stdout)
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(appSpans(s, "task work")) == 3 && len(spansNamed(s, "process default")) == 3
	}, 60*time.Second)
	consumers := map[string]otlptest.Span{}
	for _, s := range spansNamed(spans, "process default") {
		consumers[s.SpanID] = s
	}
	ids := map[any]bool{}
	for _, s := range appSpans(spans, "task work") {
		parent, ok := consumers[s.ParentSpanID]
		if !ok || parent.TraceID != s.TraceID {
			t.Errorf("task span %s (trace %s) has parent %q; want a CONSUMER span of its task", s.SpanID, s.TraceID, s.ParentSpanID)
			continue
		}
		task := fmt.Sprint(parent.Attrs["messaging.message.id"])
		if results[task].TraceID != s.TraceID || s.Attrs["payload"] != task {
			t.Errorf("task %s: result trace %s, span trace %s, payload %v", task, results[task].TraceID, s.TraceID, s.Attrs["payload"])
		}
		delete(consumers, s.ParentSpanID)
		ids[s.Resource["service.instance.id"]] = true
	}
	if len(ids) != 3 || ids[nil] {
		t.Errorf("service.instance.id of the task processes: %v, want 3 distinct", ids)
	}
}

// pyServePy is a persistent worker written with otel_qrun: the handler's
// span must be a child of its task's CONSUMER span; "fail" raises.
const pyServePy = `import os
import otel_qrun
from opentelemetry import trace

def handle(task):
    with trace.get_tracer("app").start_as_current_span("handle", attributes={"task": task.id}):
        if task.payload == "fail":
            raise ValueError("asked to fail")
        return {"echo": task.payload}

# QRUN_TEST_READY=0 leaves the readiness line out, for launchers that do not
# read it yet.
raise SystemExit(otel_qrun.serve(handle, ready=os.environ.get("QRUN_TEST_READY", "1") == "1"))
`

func TestPythonServeRunsHandlersInTheTaskContext(t *testing.T) {
	python := pyvenv.Python(t)
	dir := pyApp(t, map[string]string{"worker.py": pyServePy})
	r := otlptest.NewHTTP(t)
	res := runQrunIn(t, dir, pyEnv(r, "QRUN_TEST_READY="+pyTestReady), "a\nfail\nc\n",
		"--tasks", "-", "--workers", "2", "--instrument", "python", "--", python, "worker.py")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 (one task failed): %s", res.code, res.stderr)
	}
	results := parseResults(t, res.stdout)
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(appSpans(s, "handle")) == 3 && len(spansNamed(s, "process default")) == 3 && len(spansNamed(s, "handle task")) == 1
	}, 60*time.Second)
	consumers := map[string]otlptest.Span{}
	for _, s := range spansNamed(spans, "process default") {
		consumers[s.SpanID] = s
	}
	for _, s := range append(appSpans(spans, "handle"), spansNamed(spans, "handle task")...) {
		parent, ok := consumers[s.ParentSpanID]
		if !ok || parent.TraceID != s.TraceID {
			t.Errorf("span %q %s has parent %q; want a CONSUMER span", s.Name, s.SpanID, s.ParentSpanID)
		}
	}
	for _, s := range spansNamed(spans, "handle task") {
		if s.StatusCode != "error" || len(s.Events) != 1 || s.Events[0].Name != "exception" ||
			s.Events[0].Attrs["exception.type"] != "ValueError" || s.Events[0].Attrs["exception.message"] != "asked to fail" {
			t.Errorf("failure span: status %s, events %+v; want ERROR with the exception recorded", s.StatusCode, s.Events)
		}
	}
	for id, res := range results {
		want := "ok"
		if id == "2" {
			want = "error"
		}
		if string(res.Status) != want {
			t.Errorf("task %s: %s (%s), want %s", id, res.Status, res.Error, want)
		}
	}
	if res := results["2"]; res.Error != "ValueError: asked to fail" {
		t.Errorf("task 2 error %q", res.Error)
	}
}

// pyForkPy forks 3 children from a parent whose SDK started; each child
// records one span (child 2 also from a TracerProvider of its own, built
// from the environment as a post_fork hook would), then ends with os._exit
// ("exit") or waits for the stop signal ("hold"). The parent records a span
// before forking, which must arrive once.
const pyForkPy = `import os, sys, time, urllib.request
from urllib.parse import unquote
from opentelemetry import trace

tracer = trace.get_tracer("app")
mode = sys.argv[1]

def notify(what):
    urllib.request.urlopen(os.environ["NOTIFY_URL"] + "/" + what).read()

def env_id():
    for item in os.environ["OTEL_RESOURCE_ATTRIBUTES"].split(","):
        k, _, v = item.partition("=")
        if k.strip() == "service.instance.id":
            return unquote(v)

def post_fork_hook():
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    with provider.get_tracer("hook").start_as_current_span("hook work", attributes={"pid": os.getpid()}):
        pass
    provider.shutdown()

with tracer.start_as_current_span("parent before fork", attributes={"pid": os.getpid()}):
    pass
for i in range(3):
    if os.fork() == 0:
        if i == 2:
            post_fork_hook()
        with tracer.start_as_current_span("child work", attributes={"pid": os.getpid(), "env.id": env_id()}):
            pass
        if mode == "hold":
            notify("ended")
            while True:
                time.sleep(60)
        os._exit(0)
with tracer.start_as_current_span("parent work", attributes={"pid": os.getpid(), "env.id": env_id()}):
    pass
if mode == "hold":
    notify("ended")
    while True:
        time.sleep(60)
for _ in range(3):
    os.wait()
`

// checkForkSpans checks the spans of pyForkPy: one "parent before fork",
// every child's and the parent's span, the hook's, and a distinct
// service.instance.id per process that each process's environment agrees
// with, with the rest of the resource kept.
func checkForkSpans(t *testing.T, spans []otlptest.Span) {
	t.Helper()
	if n := len(appSpans(spans, "parent before fork")); n != 1 {
		t.Errorf("%d spans \"parent before fork\", want exactly 1 (a child must not export its parent's)", n)
	}
	byPid := map[any]any{}
	for _, s := range appSpans(spans, "") {
		id := s.Resource["service.instance.id"]
		if prev, ok := byPid[s.Attrs["pid"]]; ok && prev != id {
			t.Errorf("process %v reported two ids: %v and %v", s.Attrs["pid"], prev, id)
		}
		byPid[s.Attrs["pid"]] = id
		if env, ok := s.Attrs["env.id"]; ok && env != id {
			t.Errorf("span %q of process %v: resource id %v, OTEL_RESOURCE_ATTRIBUTES says %v", s.Name, s.Attrs["pid"], id, env)
		}
		if s.Resource["qrun.worker.index"] != "0" || s.Resource["service.name"] != "pyapp" || s.Resource["deployment.environment.name"] != "test" {
			t.Errorf("span %q of process %v: resource %v lost the launcher's attributes", s.Name, s.Attrs["pid"], s.Resource)
		}
	}
	ids := map[any]bool{}
	for _, id := range byPid {
		ids[id] = true
	}
	if len(byPid) != 4 || len(ids) != 4 || ids[nil] {
		t.Errorf("pid -> service.instance.id %v: want 4 processes with 4 distinct ids", byPid)
	}
}

func TestPythonForkedChildrenThatEndInOSExit(t *testing.T) {
	python := pyvenv.Python(t)
	dir := pyApp(t, map[string]string{"fork.py": pyForkPy})
	r := otlptest.NewHTTP(t)
	res := runQrunIn(t, dir, pyEnv(r, "NOTIFY_URL=unused"), "", "--instrument", "python", "--", python, "fork.py", "exit")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(appSpans(s, "child work")) == 3 && len(appSpans(s, "parent work")) == 1 && len(appSpans(s, "hook work")) == 1
	}, 60*time.Second)
	checkForkSpans(t, spans)
}

// Every process of the tree flushes at the stop signal: SIGTERM, and a
// stop_signal of another kind (SIGHUP, whose default action ends a Python
// process without atexit), which the bootstrap learns from QRUN_STOP_SIGNAL.
func TestPythonForkedChildrenFlushOnTheStopSignal(t *testing.T) {
	python := pyvenv.Python(t)
	dir := pyApp(t, map[string]string{"fork.py": pyForkPy})
	for _, sig := range []string{"TERM", "HUP"} {
		t.Run(sig, func(t *testing.T) {
			r := otlptest.NewHTTP(t)
			n := newNotifier(t)
			c, stderr := startQrunIn(t, dir, pyEnv(r, "NOTIFY_URL="+n.srv.URL),
				"--stop-signal", sig, "--instrument", "python", "--", python, "fork.py", "hold")
			n.wait(t, 4, stderr) // every process ended its span and waits for the stop
			stopQrun(t, c, stderr)
			spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
				return len(appSpans(s, "child work")) == 3 && len(appSpans(s, "parent work")) == 1 && len(appSpans(s, "hook work")) == 1
			}, 60*time.Second)
			checkForkSpans(t, spans)
		})
	}
}

// pyPoolPy runs a multiprocessing pool of the fork context whose workers
// end in os._exit (close and join; maxtasksperchild recycles them), then
// one of the spawn context, whose worker is a new interpreter exec'd with
// its parent's environment: it too must take an id of its own.
const pyPoolPy = `import os, multiprocessing
from opentelemetry import trace

def work(n):
    with trace.get_tracer("app").start_as_current_span("pool work", attributes={"n": n, "pid": os.getpid()}):
        pass
    return os.getpid()

if __name__ == "__main__":
    with trace.get_tracer("app").start_as_current_span("pool parent", attributes={"pid": os.getpid()}):
        pool = multiprocessing.get_context("fork").Pool(2, maxtasksperchild=2)
        pids = pool.map(work, range(6), chunksize=1)
        pool.close()
        pool.join()
        spawned = multiprocessing.get_context("spawn").Pool(1)
        spawned.map(work, [100])
        spawned.close()
        spawned.join()
`

func TestPythonMultiprocessingForkPool(t *testing.T) {
	python := pyvenv.Python(t)
	dir := pyApp(t, map[string]string{"pool.py": pyPoolPy})
	r := otlptest.NewHTTP(t)
	res := runQrunIn(t, dir, pyEnv(r), "", "--instrument", "python", "--", python, "pool.py")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(appSpans(s, "pool work")) == 7 && len(appSpans(s, "pool parent")) == 1
	}, 60*time.Second)
	distinctIDsPerPid(t, appSpans(spans, ""), 3)
}

// distinctIDsPerPid checks that each process (span attribute pid) has one
// service.instance.id and that no two share one; at least min processes.
func distinctIDsPerPid(t *testing.T, spans []otlptest.Span, min int) {
	t.Helper()
	byPid := map[any]any{}
	ids := map[any]any{}
	for _, s := range spans {
		pid, id := s.Attrs["pid"], s.Resource["service.instance.id"]
		if prev, ok := byPid[pid]; ok && prev != id {
			t.Errorf("process %v reported two ids: %v and %v", pid, prev, id)
		}
		if other, ok := ids[id]; ok && other != pid {
			t.Errorf("processes %v and %v share service.instance.id %v", pid, other, id)
		}
		byPid[pid], ids[id] = id, pid
		if s.Resource["qrun.worker.index"] != "0" {
			t.Errorf("process %v: qrun.worker.index %v, want 0", pid, s.Resource["qrun.worker.index"])
		}
	}
	if len(byPid) < min || ids[nil] != nil {
		t.Errorf("pid -> service.instance.id %v: want at least %d processes, each with an id", byPid, min)
	}
}

// pyWSGI answers every request with its worker's pid, in a span.
const pyWSGI = `import os
from opentelemetry import trace

def app(environ, start_response):
    with trace.get_tracer("app").start_as_current_span("request", attributes={"pid": os.getpid()}):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
        return [str(os.getpid()).encode()]
`

func TestPythonGunicornWorkers(t *testing.T) {
	python := pyvenv.Python(t)
	if err := exec.Command(python, "-c", "import gunicorn").Run(); err != nil {
		t.Skip("gunicorn is not installed (Debian package gunicorn)")
	}
	dir := pyApp(t, map[string]string{"wsgi.py": pyWSGI})
	r := otlptest.NewHTTP(t)
	c, stderr := startQrunIn(t, dir, pyEnv(r), "--instrument", "python", "--", python, "-m", "gunicorn", "-w", "3", "-b", "127.0.0.1:0", "wsgi:app")
	listening := regexp.MustCompile(`Listening at: (http://127\.0\.0\.1:\d+)`)
	booted := 0
	var url string
	for timeout := time.After(60 * time.Second); url == "" || booted < 3; {
		select {
		case line := <-stderr.lines:
			if m := listening.FindStringSubmatch(line); m != nil {
				url = m[1]
			}
			if strings.Contains(line, "Booting worker with pid") {
				booted++
			}
		case <-timeout:
			t.Fatalf("gunicorn did not start 3 workers; stderr:\n%s", stderr.String())
		}
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	pids := map[string]bool{}
	requests := 0
	for len(pids) < 3 && requests < 300 {
		resp, err := client.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pids[string(body)] = true
		requests++
	}
	stopQrun(t, c, stderr) // every request span has ended: none may be lost
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(appSpans(s, "request")) == requests }, 60*time.Second)
	distinctIDsPerPid(t, appSpans(spans, "request"), len(pids))
	t.Logf("%d requests over %d gunicorn workers: %d spans", requests, len(pids), len(appSpans(spans, "request")))
}

// pyCeleryTasks is a Celery app whose task records a span and tells the
// test it ran.
const pyCeleryTasks = `import os, urllib.request
from celery import Celery
from opentelemetry import trace

app = Celery("tasks", broker=os.environ["BROKER_URL"])
app.conf.worker_prefetch_multiplier = 1

@app.task
def work(n):
    with trace.get_tracer("app").start_as_current_span("celery task", attributes={"n": n, "pid": os.getpid()}):
        pass
    urllib.request.urlopen(os.environ["NOTIFY_URL"] + "/task-%d" % n).read()
`

func TestPythonCeleryPrefork(t *testing.T) {
	python := pyvenv.Python(t)
	if err := exec.Command(python, "-c", "import celery, redis").Run(); err != nil {
		t.Skip("celery or redis is not installed (Debian packages python3-celery, python3-redis)")
	}
	broker := "redis://" + startRedis(t).Addr() + "/0"
	dir := pyApp(t, map[string]string{"tasks.py": pyCeleryTasks})
	r := otlptest.NewHTTP(t)
	n := newNotifier(t)
	env := pyEnv(r, "BROKER_URL="+broker, "NOTIFY_URL="+n.srv.URL)
	c, stderr := startQrunIn(t, dir, env, "--instrument", "python", "--", python, "-m", "celery", "-A", "tasks", "worker",
		"--pool=prefork", "--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat")
	send := exec.Command(python, "-c", "import tasks\nfor i in range(6): tasks.work.delay(i)")
	send.Dir, send.Env = dir, append([]string{"PATH=" + os.Getenv("PATH")}, "BROKER_URL="+broker, "NOTIFY_URL="+n.srv.URL)
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("send tasks: %v\n%s", err, out)
	}
	n.wait(t, 6, stderr)
	stopQrun(t, c, stderr) // every task span has ended: none may be lost
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(appSpans(s, "celery task")) == 6 }, 60*time.Second)
	distinctIDsPerPid(t, appSpans(spans, "celery task"), 1)
}

// pyTestReady is "1" when the launcher reads the optional readiness line
// {"ready":true} of persistent workers (issue 11), which otel_qrun.serve
// sends by default; "0" keeps it out of the test worker's replies where it
// does not.
const pyTestReady = "1"

// pyOldSDKSitecustomize is an application's own sitecustomize, found after
// otel-qrun's on PYTHONPATH (the working directory): the bootstrap must run
// it, before the SDK starts. It takes away what SDK 1.44 does at fork, so
// that the bootstrap's own handling for older SDKs is what gives forked
// children their identity.
const pyOldSDKSitecustomize = `import os
os.environ["APP_SITECUSTOMIZE"] = "ran"
from opentelemetry.sdk import trace as sdktrace
sdktrace.TracerProvider._handle_fork = lambda self: None
del sdktrace.TracerProvider._update_resource
`

func TestPythonChainsSitecustomizeAndCoversSDKsBefore144(t *testing.T) {
	python := pyvenv.Python(t)
	fork := strings.Replace(pyForkPy, `mode = sys.argv[1]`, `mode = sys.argv[1]
assert os.environ.get("APP_SITECUSTOMIZE") == "ran", "the application's sitecustomize did not run"
from opentelemetry.sdk import trace as sdktrace
assert not hasattr(sdktrace.TracerProvider, "_update_resource")`, 1)
	dir := pyApp(t, map[string]string{"fork.py": fork, "sitecustomize.py": pyOldSDKSitecustomize})
	r := otlptest.NewHTTP(t)
	res := runQrunIn(t, dir, pyEnv(r, "NOTIFY_URL=unused"), "", "--instrument", "python", "--", python, "fork.py", "exit")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(appSpans(s, "child work")) == 3 && len(appSpans(s, "parent work")) == 1 && len(appSpans(s, "hook work")) == 1
	}, 60*time.Second)
	checkForkSpans(t, spans)
}
