package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// runMainEnv makes the test binary run the example's main instead of the
// tests, so the tests start the worker as otel-qrun would.
const runMainEnv = "GOWORKER_TASKS_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run())
	}
	os.Exit(m.Run())
}

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanA  = "00f067aa0ba902b7"
	traceB = "0af7651916cd43dd8448eb211c80319c"
	spanB  = "b7ad6b7169203331"
)

// worker is the example running with its task lines on stdin and its reply
// channel on fd 3.
type worker struct{ *workertest.TaskWorker }

func startWorker(t *testing.T, env ...string) worker {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{runMainEnv + "=1", "GORACE=atexit_sleep_ms=0", "QRUN_WORKER_INDEX=0"}, env...)
	return worker{workertest.StartTaskWorker(t, cmd)}
}

// task sends one task line and returns its reply.
func (w worker) task(t *testing.T, line string) string {
	t.Helper()
	w.Send(t, line)
	return w.Reply(t)
}

// wait waits for the worker to exit with status 0.
func (w worker) wait(t *testing.T) {
	t.Helper()
	if err := w.Wait(t); err != nil {
		t.Errorf("worker exit: %v, want status 0; stderr:\n%s", err, w.Stderr())
	}
}

func TestGoTaskWorker(t *testing.T) {
	r := otlptest.NewHTTP(t)
	w := startWorker(t, append(r.Env(), "OTEL_SERVICE_NAME=emails")...)

	got := w.task(t, `{"id":"a","payload":{"to":"a@b"},"carrier":{"traceparent":"00-`+traceA+`-`+spanA+`-01"},"attempt":1}`)
	if want := `{"id":"a","ok":true,"result":{"echo":{"to":"a@b"},"worker":"0"},"attempt":1}`; !sameJSON(t, got, want) {
		t.Errorf("reply %s, want %s", got, want)
	}
	got = w.task(t, `{"id":"b","payload":{"fail":true},"carrier":{"traceparent":"00-`+traceB+`-`+spanB+`-01"},"attempt":2}`)
	if want := `{"id":"b","ok":false,"error":"the payload asked to fail","attempt":2}`; !sameJSON(t, got, want) {
		t.Errorf("reply %s, want %s", got, want)
	}
	select {
	case <-w.Ready:
	default:
		t.Error(`the worker wrote no readiness line {"ready":true} before its replies`)
	}
	w.Stdin.Close() // the launcher's way to stop a persistent worker
	w.wait(t)

	// The SDK flushed at exit; each task's span is a child of its carrier.
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(s) >= 2 }, 20*time.Second)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2:\n%s", len(spans), otlptest.DumpSpans(spans))
	}
	want := map[string]struct{ trace, parent, status string }{
		"a": {traceA, spanA, "unset"},
		"b": {traceB, spanB, "error"},
	}
	for _, s := range spans {
		id, _ := s.Attrs["messaging.message.id"].(string)
		w, ok := want[id]
		if !ok || s.Name != "handle task" || s.TraceID != w.trace || s.ParentSpanID != w.parent ||
			s.StatusCode != w.status || s.Resource["service.name"] != "emails" {
			t.Errorf("span %+v; want %q with %+v", s, "handle task", w)
		}
		delete(want, id)
	}
	if log := w.Stderr(); !strings.Contains(log, "task a (attempt 1) done in trace "+traceA) || !strings.Contains(log, "task b (attempt 2) failed") {
		t.Errorf("stderr:\n%s", log)
	}
}

func TestGoTaskWorkerStopsOnSIGTERM(t *testing.T) {
	w := startWorker(t, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	w.task(t, `{"id":"a","payload":1,"carrier":{},"attempt":1}`)
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.wait(t)
}

func TestGoTaskWorkerWithoutResultFD(t *testing.T) {
	c := exec.Command(os.Args[0])
	c.Env = []string{runMainEnv + "=1", "GORACE=atexit_sleep_ms=0", "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none"}
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "QRUN_RESULT_FD") {
		t.Errorf("exit %v, output %q; want status 1 naming QRUN_RESULT_FD", err, out)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
