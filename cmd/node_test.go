package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/instrument"
	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// The Node.js tests run real workers under the real
// @opentelemetry/auto-instrumentations-node register, installed from the npm
// registry once into a cache directory that later runs reuse. They are
// skipped only when node or npm is missing.

// nodePackages are installed for the tests, pinned so that a cached install
// and a fresh one behave the same. Changing them changes the cache
// directory.
var nodePackages = []string{"@opentelemetry/auto-instrumentations-node@0.81.2", "@opentelemetry/api@1.9.1"}

var nodeInstall struct {
	once    sync.Once
	modules string // the node_modules directory
	skip    string // why the tests cannot run
	err     error
}

// nodeModules returns a node_modules directory holding nodePackages,
// installing them on first use into the user's cache directory.
func nodeModules(t testing.TB) string {
	t.Helper()
	nodeInstall.once.Do(func() {
		nodeInstall.modules, nodeInstall.skip, nodeInstall.err = installNodePackages()
	})
	switch {
	case nodeInstall.skip != "":
		t.Skip(nodeInstall.skip)
	case nodeInstall.err != nil:
		t.Fatal(nodeInstall.err)
	}
	return nodeInstall.modules
}

func installNodePackages() (modules, skip string, err error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", "skipping the Node.js zero-code tests: " + tool + " is not installed", nil
		}
	}
	// The user's cache directory, or the temporary one where that is not
	// writable.
	cache := os.TempDir()
	if base, err := os.UserCacheDir(); err == nil && os.MkdirAll(filepath.Join(base, "otel-qrun-test"), 0o755) == nil {
		cache = base
	}
	sum := sha256.Sum256([]byte(strings.Join(nodePackages, "\n")))
	dir := filepath.Join(cache, "otel-qrun-test", "node-"+hex.EncodeToString(sum[:6]))
	modules = filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return modules, "", nil
	}
	// Install next to the cache entry and rename it into place, so that an
	// interrupted install is never taken for a complete one.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "installing-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"}, nodePackages...)
	c := exec.CommandContext(ctx, "npm", args...)
	c.Dir = tmp
	start := time.Now()
	if out, err := c.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Fprintf(os.Stderr, "node tests: installed %s into %s in %s\n", strings.Join(nodePackages, " "), dir, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil {
			return "", "", fmt.Errorf("cache the Node.js packages: %w", err)
		} // another test run installed it first
	}
	return modules, "", nil
}

// nodeApp makes a working directory with the given files and node_modules
// linked to the installed packages, as an application would have them.
func nodeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	modules := nodeModules(t)
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// requestLog is an HTTP server that records the traceparent header of each
// request by path.
type requestLog struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     map[string]string
	arrived chan struct{} // closed, and replaced, at each request
}

func newRequestLog(t *testing.T) *requestLog {
	l := &requestLog{got: map[string]string{}, arrived: make(chan struct{})}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.got[r.URL.Path] = r.Header.Get("traceparent")
		close(l.arrived)
		l.arrived = make(chan struct{})
		l.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// wait waits for a request to path; within bounds the wait as a last
// resort.
func (l *requestLog) wait(t *testing.T, path string, within time.Duration, stderr *bytes.Buffer) {
	t.Helper()
	timeout := time.After(within)
	for {
		l.mu.Lock()
		_, ok := l.got[path]
		arrived := l.arrived
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("no request to %s within %s; stderr:\n%s", path, within, stderr.String())
		}
	}
}

func (l *requestLog) requests() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.got))
	for k, v := range l.got {
		out[k] = v
	}
	return out
}

// nodeEnv is the environment of the Node.js tests: the receiver's, quiet
// resource detection (no cloud metadata probes, but env, which carries the
// worker identity), and the test server.
func nodeEnv(r *otlptest.Receiver, target string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "OTEL_SERVICE_NAME=nodeapp",
		"OTEL_NODE_RESOURCE_DETECTORS=env,host,os,process", "TARGET_URL=" + target}
	return append(append(env, r.Env()...), extra...)
}

// runQrunIn runs the built binary in dir with stdin as its input.
func runQrunIn(t *testing.T, dir string, env []string, stdin string, args ...string) processRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, qrunBin, args...)
	c.Dir, c.Env = dir, env
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	res := processRun{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

func clientSpans(spans []otlptest.Span) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if s.Kind == "client" && s.Resource["service.name"] == "nodeapp" {
			out = append(out, s)
		}
	}
	return out
}

// appJS has no OpenTelemetry code: one HTTP request, then it exits.
const appJS = `const http = require('http');
http.get(process.env.TARGET_URL + '/worker-' + process.env.QRUN_WORKER_INDEX, (res) => {
  res.resume();
  res.on('end', () => console.error('worker ' + process.env.QRUN_WORKER_INDEX + ': status ' + res.statusCode));
});
`

func TestNodeWorkersStartTheirOwnSDK(t *testing.T) {
	t.Parallel()
	dir := nodeApp(t, map[string]string{"app.js": appJS})
	r := otlptest.NewHTTP(t)
	server := newRequestLog(t)
	res := runQrunIn(t, dir, nodeEnv(r, server.srv.URL), "", "--instrument", "node", "--workers", "2", "--", "node", "app.js")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(clientSpans(s)) == 2 && len(spansNamed(s, "run node")) == 2
	}, 30*time.Second)

	instances := map[any]bool{}
	indexes := map[string]bool{}
	launcherTraces := map[string]bool{}
	for _, s := range spansNamed(spans, "run node") {
		launcherTraces[s.TraceID] = true
	}
	for _, s := range clientSpans(spans) {
		if s.Scope != "@opentelemetry/instrumentation-http" || s.Name != "GET" {
			t.Errorf("client span %q from %q; want GET from the http instrumentation", s.Name, s.Scope)
		}
		instances[s.Resource["service.instance.id"]] = true
		index := fmt.Sprint(s.Resource["qrun.worker.index"])
		indexes[index] = true
		if tp := server.requests()["/worker-"+index]; !strings.Contains(tp, s.TraceID+"-"+s.SpanID) {
			t.Errorf("worker %s sent traceparent %q; want its client span %s-%s", index, tp, s.TraceID, s.SpanID)
		}
		// Long-lived workers: the register does not read TRACEPARENT, and
		// otel-qrun does not put a long-lived worker under one context, so
		// the worker's spans start traces of their own.
		if launcherTraces[s.TraceID] || s.ParentSpanID != "" {
			t.Errorf("client span of worker %s is in the launcher's trace %s (parent %q): a long-lived worker must not run under one process-long context",
				index, s.TraceID, s.ParentSpanID)
		}
	}
	if len(instances) != 2 || instances[nil] {
		t.Errorf("service.instance.id of the workers' spans: %v, want two distinct values", instances)
	}
	if !indexes["0"] || !indexes["1"] {
		t.Errorf("qrun.worker.index of the workers' spans: %v, want 0 and 1", indexes)
	}
	t.Logf("long-lived workers: TRACEPARENT is ignored by the register; each worker's client span is a root span of its own trace (launcher traces %v)", launcherTraces)
}

// taskJS has no OpenTelemetry code: it reads its payload, makes one HTTP
// request named after its task, then exits.
const taskJS = `const http = require('http');
console.error('NODE_OPTIONS=' + process.env.NODE_OPTIONS);
let payload = '';
process.stdin.on('data', (d) => { payload += d; });
process.stdin.on('end', () => {
  setTimeout(() => {
    http.get(process.env.TARGET_URL + '/task-' + process.env.QRUN_TASK_ID, (res) => res.resume());
  }, 1);
});
`

func TestNodePerTaskProcessesContinueTheTaskTrace(t *testing.T) {
	t.Parallel()
	dir := nodeApp(t, map[string]string{"task.js": taskJS})
	r := otlptest.NewHTTP(t)
	server := newRequestLog(t)
	input := `{"id":"a","payload":"one","carrier":{"traceparent":"` + inheritedTP + `"}}` + "\n" +
		`{"id":"b","payload":{"n":2}}` + "\n" + "three\n"
	res := runQrunIn(t, dir, nodeEnv(r, server.srv.URL), input,
		"--tasks", "-", "--per-task", "--instrument", "node", "--workers", "2", "--", "node", "task.js")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	results := parseResults(t, res.stdout)
	if len(results) != 3 {
		t.Fatalf("results %v", results)
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		return len(clientSpans(s)) == 3 && len(spansNamed(s, "process default")) == 3
	}, 30*time.Second)

	consumers := map[string]otlptest.Span{}
	for _, s := range spansNamed(spans, "process default") {
		consumers[s.SpanID] = s
	}
	instances := map[any]bool{}
	for _, s := range clientSpans(spans) {
		parent, ok := consumers[s.ParentSpanID]
		if !ok || parent.TraceID != s.TraceID {
			t.Errorf("client span %s (trace %s) has parent %s; want a CONSUMER span of its task", s.SpanID, s.TraceID, s.ParentSpanID)
			continue
		}
		task := fmt.Sprint(parent.Attrs["messaging.message.id"])
		if results[task].TraceID != s.TraceID {
			t.Errorf("task %s: result trace %s, client span trace %s", task, results[task].TraceID, s.TraceID)
		}
		if tp := server.requests()["/task-"+task]; !strings.Contains(tp, s.TraceID+"-"+s.SpanID) {
			t.Errorf("task %s sent traceparent %q; want its client span", task, tp)
		}
		delete(consumers, s.ParentSpanID) // one client span per task
		instances[s.Resource["service.instance.id"]] = true
	}
	if results["a"].TraceID != inheritedTrace {
		t.Errorf("task a: trace %s, want its carrier's %s", results["a"].TraceID, inheritedTrace)
	}
	if len(instances) != 3 {
		t.Errorf("service.instance.id of the task processes: %v, want one per process", instances)
	}
	// The preload lives in a private directory only while otel-qrun runs.
	_, opts, ok := strings.Cut(res.stderr, "NODE_OPTIONS=--require "+instrument.NodeRegister+" --require ")
	preload, _, _ := strings.Cut(opts, "\n")
	if !ok || filepath.Base(preload) != "preload.cjs" {
		t.Fatalf("no preload in the tasks' NODE_OPTIONS; stderr:\n%s", res.stderr)
	}
	if _, err := os.Stat(filepath.Dir(preload)); !os.IsNotExist(err) {
		t.Errorf("the preload's directory %s is still there after otel-qrun exited: %v", filepath.Dir(preload), err)
	}
}

func TestNodeBootstrapErrorsAndConfig(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	empty := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "OTEL_SERVICE_NAME=nodeapp"}
	res := runQrunIn(t, empty, append(env, quietTelemetry...), "", "--instrument", "auto", "--", "node", "app.js")
	if res.code != 2 || res.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2", res.code, res.stdout)
	}
	for _, want := range []string{"--instrument auto: ", "cannot resolve " + instrument.NodeRegister + " from " + empty,
		instrument.NodeInstall} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr %q lacks %q", res.stderr, want)
		}
	}

	dir := nodeApp(t, nil)
	res = runQrunIn(t, dir, append(env, "NODE_OPTIONS=--max-old-space-size=256"), "",
		"config", "--tasks", "-", "--per-task", "--instrument", "node", "--workers", "2", "--", "node", "task.js")
	if res.code != 0 {
		t.Fatalf("config: exit %d: %s", res.code, res.stderr)
	}
	preload := filepath.Join(os.TempDir(), "otel-qrun-node-XXXXXX", "preload.cjs")
	for _, want := range []string{
		"node: NODE_OPTIONS += --require " + instrument.NodeRegister + " (/",
		"/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js)\n",
		"node: NODE_OPTIONS += --require " + preload + ", which makes a worker with no SIGTERM handler of its own exit on SIGTERM",
		"runs each task's main module in the context of TRACEPARENT",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, res.stdout)
		}
	}
	if n := strings.Count(res.stdout, "+ NODE_OPTIONS=--max-old-space-size=256 --require "+instrument.NodeRegister+" --require "+preload+"\n"); n != 2 {
		t.Errorf("NODE_OPTIONS shown for %d workers, want 2:\n%s", n, res.stdout)
	}
}

// BenchmarkNodeStart measures what the bootstrap adds to the start of a
// Node.js worker: the time from exec to the first line of the main module
// (ms-to-main) and to the exit of a worker that does nothing (ms-total,
// which includes the SDK's shutdown), without and with the register, and
// with the per-task preload after it.
func BenchmarkNodeStart(b *testing.B) {
	dir := b.TempDir()
	if err := os.Symlink(nodeModules(b), filepath.Join(dir, "node_modules")); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte("console.log('main');\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	preload := filepath.Join(dir, "preload.cjs")
	if err := os.WriteFile(preload, instrument.NodePreload(), 0o600); err != nil {
		b.Fatal(err)
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "OTEL_SERVICE_NAME=bench", "OTEL_TRACES_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none", "OTEL_EXPORTER_OTLP_ENDPOINT=" + otlptest.Refused(b),
		"TRACEPARENT=" + inheritedTP}
	for _, bc := range []struct{ name, nodeOptions string }{
		{"plain", ""},
		{"register", "--require " + instrument.NodeRegister},
		{"register+detectors", "--require " + instrument.NodeRegister},
		{"register+preload", "--require " + instrument.NodeRegister + " --require " + preload},
	} {
		b.Run(bc.name, func(b *testing.B) {
			env := append(base, "NODE_OPTIONS="+bc.nodeOptions)
			if strings.HasSuffix(bc.name, "detectors") || strings.HasSuffix(bc.name, "preload") {
				env = append(env, "OTEL_NODE_RESOURCE_DETECTORS=env,host,os,process")
			}
			var toMain, total time.Duration
			for b.Loop() {
				c := exec.Command("node", "main.js")
				c.Dir, c.Env = dir, env
				out, err := c.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := c.Start(); err != nil {
					b.Fatal(err)
				}
				if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "main\n" {
					b.Fatalf("first line %q, %v", line, err)
				}
				toMain += time.Since(start)
				io.Copy(io.Discard, out)
				if err := c.Wait(); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(toMain.Microseconds())/1000/float64(b.N), "ms-to-main")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-total")
		})
	}
}

// serverJS has no OpenTelemetry code: it makes one request, and one more
// once the first has ended (its span with it), then keeps a
// server open, the way a long-lived worker runs until it is told to stop.
const serverJS = `const http = require('http');
http.createServer((req, res) => res.end()).listen(0, () => {
  http.get(process.env.TARGET_URL + '/started', (res) => {
    res.resume();
    res.on('end', () => setImmediate(() => http.get(process.env.TARGET_URL + '/ended', (r) => r.resume())));
  });
});
`

func TestNodeWorkerUnderTheRegisterStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := nodeApp(t, map[string]string{"server.js": serverJS})
	r := otlptest.NewHTTP(t)
	server := newRequestLog(t)
	// A stop that had to wait for SIGKILL would take stop_grace, so long
	// that the test's bound ends it first. The preload bounds the
	// worker's flush by shutdown_timeout (QRUN_SHUTDOWN_TIMEOUT), long
	// enough here for a loaded machine.
	c := exec.Command(qrunBin, "--instrument", "node", "--stop-grace", "600", "--shutdown-timeout", "60",
		"--", "node", "server.js")
	c.Dir, c.Env = dir, nodeEnv(r, server.srv.URL)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	// The span of the request to /started has ended once the request to
	// /ended arrives (that one may still be open at the stop).
	server.wait(t, "/ended", 2*time.Minute, &stderr)
	c.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit %v, want 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		c.Process.Kill()
		<-exited
		t.Fatalf("the worker did not stop on SIGTERM within 2 minutes, long before stop_grace; stderr:\n%s", stderr.String())
	}
	// The SDK was flushed before the worker died: its client span arrived.
	r.WaitSpans(t, func(s []otlptest.Span) bool { return len(clientSpans(s)) >= 1 }, 10*time.Second)
}

// clusterJS has no OpenTelemetry code: a cluster primary that forks two
// workers; each of the three processes makes one request, then one more to
// say that the first has ended, then runs until it is stopped.
const clusterJS = `const cluster = require('cluster');
const http = require('http');
const name = cluster.isPrimary ? 'primary' : 'worker-' + cluster.worker.id;
if (cluster.isPrimary) {
  cluster.fork();
  cluster.fork();
}
setInterval(() => {}, 1 << 30);
http.get(process.env.TARGET_URL + '/' + name, (res) => {
  res.resume();
  res.on('end', () => setImmediate(() => http.get(process.env.TARGET_URL + '/ended-' + name, (r) => r.resume())));
});
`

func TestNodeClusterWorkersHaveTheirOwnIdentityAndFlushOnStop(t *testing.T) {
	dir := nodeApp(t, map[string]string{"cluster.js": clusterJS})
	r := otlptest.NewHTTP(t)
	server := newRequestLog(t)
	// The flush, and the wait for the workers, are bounded by
	// shutdown_timeout: long enough here for a loaded machine.
	c := exec.Command(qrunBin, "--instrument", "node", "--shutdown-timeout", "60", "--", "node", "cluster.js")
	// A long batch delay: the spans arrive only if the stop flushes them.
	c.Dir, c.Env = dir, nodeEnv(r, server.srv.URL, "OTEL_BSP_SCHEDULE_DELAY=600000")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	names := []string{"primary", "worker-1", "worker-2"}
	for _, name := range names {
		server.wait(t, "/ended-"+name, time.Minute, &stderr)
	}
	c.Process.Signal(syscall.SIGTERM) // right after the requests
	if err := c.Wait(); err != nil {
		t.Errorf("exit %v; stderr:\n%s", err, stderr.String())
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool {
		found := 0
		for _, name := range names {
			for _, span := range clientSpans(s) {
				if spanMentions(span, "/"+name) {
					found++
					break
				}
			}
		}
		return found == len(names)
	}, 30*time.Second)
	ids := map[any]string{}
	for _, name := range names {
		for _, s := range clientSpans(spans) {
			if spanMentions(s, "/"+name) {
				if other, ok := ids[s.Resource["service.instance.id"]]; ok && other != name {
					t.Errorf("%s and %s share service.instance.id %v", name, other, s.Resource["service.instance.id"])
				}
				ids[s.Resource["service.instance.id"]] = name
				if fmt.Sprint(s.Resource["qrun.worker.index"]) != "0" {
					t.Errorf("%s: qrun.worker.index %v, want 0", name, s.Resource["qrun.worker.index"])
				}
			}
		}
	}
	if len(ids) != 3 || ids[nil] != "" {
		t.Errorf("service.instance.id -> process %v: want 3 distinct ids", ids)
	}
}

// spanMentions reports whether an attribute of s ends with suffix (the
// path of an HTTP client span's URL).
func spanMentions(s otlptest.Span, suffix string) bool {
	for _, v := range s.Attrs {
		if str, ok := v.(string); ok && strings.HasSuffix(str, suffix) {
			return true
		}
	}
	return false
}
