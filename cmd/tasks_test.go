package cmd

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// runTasks runs the binary in task mode with input on its stdin and returns
// the parsed result lines, failing on any other line on stdout.
func runTasks(t *testing.T, env []string, input string, args ...string) (map[string]taskproto.Result, processRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, qrunBin, append([]string{"--tasks", "-"}, args...)...)
	c.Env = env
	c.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	res := processRun{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return parseResults(t, res.stdout), res
}

func parseResults(t *testing.T, stdout string) map[string]taskproto.Result {
	t.Helper()
	results := map[string]taskproto.Result{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		r, err := taskproto.ParseResult(sc.Bytes())
		if err != nil {
			t.Fatalf("stdout line is not a result: %q (%v)", sc.Text(), err)
		}
		if _, dup := results[r.ID]; dup {
			t.Errorf("two results for %q", r.ID)
		}
		results[r.ID] = r
	}
	return results
}

func TestTaskModeOverTheWire(t *testing.T) {
	t.Parallel()
	receivers(t, func(t *testing.T, r *otlptest.Receiver) {
		input := `{"id":"a","payload":{"n":1},"carrier":{"traceparent":"` + inheritedTP + `"}}` + "\n" +
			`{"id":"b","payload":{"fail":true}}` + "\n" +
			`{"id":"c","payload":{"fail_until":2}}` + "\n"
		env := helperEnv("taskworker", append(r.Env(), "OTEL_SERVICE_NAME=emails")...)
		results, res := runTasks(t, env, input, "--name", "emails", "--workers", "2", "--max-attempts", "2", os.Args[0])
		if res.code != 1 {
			t.Errorf("exit %d, want 1 (task b failed); stderr:\n%s", res.code, res.stderr)
		}
		if a := results["a"]; a.Status != "ok" || a.TraceID != inheritedTrace {
			t.Errorf("task a: %+v; want ok in the carrier's trace %s", a, inheritedTrace)
		}
		if b := results["b"]; b.Status != "error" || b.Attempts != 2 {
			t.Errorf("task b: %+v", b)
		}
		if c := results["c"]; c.Status != "ok" || c.Attempts != 2 {
			t.Errorf("task c: %+v", c)
		}
		if !strings.Contains(res.stderr, `{"event":"ready"`) {
			t.Errorf("worker stdout should go to stderr in task mode; stderr:\n%s", res.stderr)
		}
		spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(spansNamed(s, "process emails")) == 5 }, 20*time.Second)
		for _, s := range spansNamed(spans, "process emails") {
			id := s.Attrs["messaging.message.id"]
			if s.Kind != "consumer" || s.Attrs["messaging.system"] != "otel_qrun" || s.Attrs["messaging.operation.type"] != "process" ||
				s.Attrs["messaging.destination.name"] != "emails" || s.Attrs["messaging.client.id"] == nil || s.Attrs["qrun.task.attempt"] == nil {
				t.Errorf("consumer span attributes: %v", s.Attrs)
			}
			switch id {
			case "a":
				if s.TraceID != inheritedTrace || s.ParentSpanID != inheritedSpan || len(s.Links) != 1 || s.Links[0].SpanID != inheritedSpan {
					t.Errorf("span of task a: parent %s links %+v; want a child of and a link to the carrier", s.ParentSpanID, s.Links)
				}
			case "b":
				if s.StatusCode != "error" || s.Attrs["error.type"] != "error" || s.ParentSpanID != "" {
					t.Errorf("span of task b: %+v", s)
				}
			}
		}
		metrics := r.WaitMetrics(t, func(m []otlptest.Metric) bool {
			v, ok := lastSum(m, "messaging.client.consumed.messages", "", "")
			return ok && v == 5
		}, 20*time.Second)
		if v, _ := lastSum(metrics, "qrun.task.retries", "", ""); v != 2 {
			t.Errorf("qrun.task.retries = %v, want 2", v)
		}
		if v, ok := lastSum(metrics, "qrun.tasks.queued", "", ""); !ok || v != 0 {
			t.Errorf("qrun.tasks.queued = %v (%v), want 0 at the end", v, ok)
		}
		found := false
		for _, m := range metrics {
			if m.Name == "messaging.process.duration" && m.Kind == "histogram" {
				for _, p := range m.Points {
					if _, hasID := p.Attrs["messaging.message.id"]; hasID {
						t.Errorf("task id in metric attributes: %v", p.Attrs)
					}
				}
				found = true
			}
		}
		if !found {
			t.Error("no messaging.process.duration histogram")
		}
	})
}

func TestTaskModeFromAFIFOOutlivesItsProducers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo, out := filepath.Join(dir, "tasks.fifo"), filepath.Join(dir, "results.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	c := exec.Command(qrunBin, "--tasks", fifo, "--results", out, "--per-task", os.Args[0])
	c.Env = helperEnv("pertask")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	// Two producers one after the other, as with enqueue >> tasks.fifo:
	// the first one's close does not end the input.
	for _, lines := range []string{"one\ntwo\n", `{"id":"third","payload":"fail"}` + "\n"} {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(lines)
		w.Close()
	}
	var results map[string]taskproto.Result
	deadline := time.Now().Add(20 * time.Second)
	for len(results) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("results so far: %v; stderr:\n%s", results, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(out)
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			results = parseResults(t, string(b[:i+1]))
		}
	}
	if err := c.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("otel-qrun ended when its producers closed the FIFO: %v", err)
	}
	c.Process.Signal(syscall.SIGTERM)
	if err := c.Wait(); err == nil || c.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %v, want 1 (task third failed); stderr:\n%s", err, stderr.String())
	}
	for id, want := range map[string]taskproto.Status{"1": "ok", "2": "ok", "third": "error"} {
		if results[id].Status != want {
			t.Errorf("task %s: %+v, want %s", id, results[id], want)
		}
	}
	// The per-task processes' stdout stays the launcher's stdout when
	// results go to a file.
	if !strings.Contains(stdout.String(), `"stdin":"two"`) {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestTaskModeBadSources(t *testing.T) {
	t.Parallel()
	env := helperEnv("taskworker")
	if r := runQrun(t, env, "--tasks", "/nonexistent/tasks", os.Args[0]); r.code != 2 || !strings.Contains(r.stderr, "--tasks") {
		t.Errorf("missing task file: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runQrun(t, env, "--tasks", "-", "--results", "/nonexistent/dir/r.jsonl", os.Args[0]); r.code != 2 || !strings.Contains(r.stderr, "--results") {
		t.Errorf("unwritable results: exit %d, stderr %q", r.code, r.stderr)
	}
}
