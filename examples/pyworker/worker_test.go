// Package pyworker holds the tests of the Python example worker, worker.py.
package pyworker

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// worker is worker.py running with its reply channel on fd 3.
type worker struct{ *workertest.TaskWorker }

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not in PATH: the Python example worker cannot be tested")
	}
	return p
}

// startWorker starts worker.py as otel-qrun does: task lines on stdin,
// QRUN_RESULT_FD=3 naming a pipe.
func startWorker(t *testing.T, env ...string) worker {
	t.Helper()
	cmd := exec.Command(python(t), "worker.py")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1", "QRUN_WORKER_INDEX=0"}, env...)
	return worker{workertest.StartTaskWorker(t, cmd)}
}

// stop closes the worker's stdin and waits for it to exit with status 0.
func (w worker) stop(t *testing.T) {
	t.Helper()
	w.Stdin.Close()
	if err := w.Wait(t); err != nil {
		t.Errorf("worker exit: %v; stderr:\n%s", err, w.Stderr())
	}
}

// reply waits for the next reply line, decoded.
func (w worker) reply(t *testing.T) map[string]any {
	t.Helper()
	line := w.Reply(t)
	var r map[string]any
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return r
}

func TestPythonWorker(t *testing.T) {
	w := startWorker(t)
	tests := []struct {
		name, line string
		want       string // the reply, as JSON
	}{
		{"ok", `{"id":"a","payload":{"to":"a@b"},"carrier":{"traceparent":"` + traceparent + `"},"attempt":1}`,
			`{"id":"a","ok":true,"result":{"echo":{"to":"a@b"},"worker":"0"},"attempt":1}`},
		{"string payload", `{"id":"b","payload":"hello","carrier":{},"attempt":2}`,
			`{"id":"b","ok":true,"result":{"echo":"hello","worker":"0"},"attempt":2}`},
		{"fail", `{"id":"c","payload":{"fail":true},"carrier":{},"attempt":1}`,
			`{"id":"c","ok":false,"error":"ValueError: the payload asked to fail","attempt":1}`},
		{"bad carrier", `{"id":"d","payload":1,"carrier":"x","attempt":1}`,
			`{"id":"d","ok":false,"error":"invalid task line: carrier is not an object","attempt":1}`},
		{"after a line that is not JSON", "not json\n" + `{"id":"e","payload":null,"carrier":{},"attempt":1}`,
			`{"id":"e","ok":true,"result":{"echo":null,"worker":"0"},"attempt":1}`},
		{"after a line without an id", `{"payload":1}` + "\n\n" + `{"id":"f","payload":[1],"attempt":1}`,
			`{"id":"f","ok":true,"result":{"echo":[1],"worker":"0"},"attempt":1}`},
	}
	// One task in flight at a time, as otel-qrun does: each reply must
	// arrive before the next line is written.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.Send(t, tt.line)
			got := w.reply(t)
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if g, _ := json.Marshal(got); string(g) != mustMarshal(t, want) {
				t.Errorf("reply %s, want %s", g, tt.want)
			}
		})
	}
	select {
	case <-w.Ready:
	default:
		t.Error(`the worker wrote no readiness line {"ready":true} before its replies`)
	}
	// The end of stdin stops the worker with status 0.
	w.stop(t)
	if _, open := <-w.Replies; open {
		t.Error("a reply nobody asked for")
	}
	log := w.Stderr()
	for _, want := range []string{"task a (attempt 1) done", "task c (attempt 1) failed", "skipping a task line that is not JSON", "without a string id"} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPythonWorkerWithoutResultFD(t *testing.T) {
	c := exec.Command(python(t), "worker.py")
	c.Env = []string{"PATH=" + os.Getenv("PATH")}
	c.Stdin = strings.NewReader(`{"id":"a","payload":1,"carrier":{},"attempt":1}` + "\n")
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "QRUN_RESULT_FD") {
		t.Errorf("exit %v, output %q; want status 2 naming QRUN_RESULT_FD", err, out)
	}
}

func TestPythonWorkerStopsOnSIGTERM(t *testing.T) {
	w := startWorker(t)
	w.Send(t, `{"id":"a","payload":1,"carrier":{},"attempt":1}`)
	w.reply(t) // the worker is up and waiting for the next task
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker exit after SIGTERM: %v, want status 0; stderr:\n%s", err, w.Stderr())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not exit after SIGTERM")
	}
}

// stubOpenTelemetry is a stand-in for the opentelemetry package that logs
// what the worker asks of it, so the test sees the branch of worker.py that
// runs when OpenTelemetry is installed.
var stubOpenTelemetry = map[string]string{
	"__init__.py": "",
	"propagate.py": `
def extract(carrier, context=None):
    return {"extracted": dict(carrier)}
`,
	"trace.py": `
import contextlib, sys

class _Tracer:
    @contextlib.contextmanager
    def start_as_current_span(self, name, context=None, attributes=None):
        print("stub span %r parent=%s attributes=%s" % (name, context["extracted"].get("traceparent"), sorted(attributes.items())),
              file=sys.stderr, flush=True)
        yield None

def get_tracer(name):
    return _Tracer()
`,
}

func TestPythonWorkerContinuesTheCarrier(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "opentelemetry")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range stubOpenTelemetry {
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := startWorker(t, "PYTHONPATH="+dir)
	if r := w.roundTrip(t, `{"id":"a","payload":1,"carrier":{"traceparent":"`+traceparent+`"},"attempt":3}`); r["ok"] != true {
		t.Errorf("reply %v", r)
	}
	if r := w.roundTrip(t, `{"id":"b","payload":{"fail":true},"carrier":{},"attempt":1}`); r["ok"] != false {
		t.Errorf("reply %v", r)
	}
	w.stop(t) // stderr is complete once the worker has exited
	log := w.Stderr()
	for _, want := range []string{
		"stub span 'handle task' parent=" + traceparent + " attributes=[('messaging.message.id', 'a'), ('qrun.task.attempt', 3)]",
		"stub span 'handle task' parent=None attributes=[('messaging.message.id', 'b'), ('qrun.task.attempt', 1)]",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
}

// roundTrip sends one task line and waits for its reply.
func (w worker) roundTrip(t *testing.T, line string) map[string]any {
	t.Helper()
	w.Send(t, line)
	return w.reply(t)
}

func TestPythonWorkerServesWithOtelQrun(t *testing.T) {
	// The module otel-qrun --instrument python puts on the path: standard
	// library only here (no OpenTelemetry installed), from the source that
	// otel-qrun embeds.
	w := startWorker(t, "PYTHONPATH="+filepath.Join("..", "..", "instrument", "python"))
	w.WaitReady(t)
	for _, tt := range []struct{ line, want string }{
		{`{"id":"a","payload":{"to":"a@b"},"carrier":{"traceparent":"` + traceparent + `"},"attempt":1}`,
			`{"id":"a","ok":true,"result":{"echo":{"to":"a@b"},"worker":"0"}}`},
		{`{"id":"c","payload":{"fail":true},"carrier":{},"attempt":1}`, `{"id":"c","ok":false,"error":"ValueError: the payload asked to fail"}`},
		{`{"id":"d","payload":1,"carrier":"x","attempt":1}`, `{"id":"d","ok":false,"error":"invalid task line: carrier is not an object"}`},
		{"not json\n" + `{"payload":1}` + "\n" + `{"id":"e","payload":null}`, `{"id":"e","ok":true,"result":{"echo":null,"worker":"0"}}`},
	} {
		w.Send(t, tt.line)
		var got, want map[string]any
		if err := json.Unmarshal([]byte(w.Reply(t)), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatal(err)
		}
		if mustMarshal(t, got) != mustMarshal(t, want) {
			t.Errorf("reply %v, want %s", got, tt.want)
		}
	}
	w.stop(t)
	if log := w.Stderr(); !strings.Contains(log, "serving with otel_qrun") || !strings.Contains(log, "skipping a task line that is not JSON") {
		t.Errorf("stderr:\n%s", log)
	}
}
