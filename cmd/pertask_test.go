package cmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// The per-task process helper of these tests reports its payload and its
// whole environment, duplicates included (Args holds os.Environ()), on
// stdout, which the launcher hands to stderr in task mode. The payload
// "retry" fails the first attempt (exit 3).
func init() {
	workertest.Register("pertask-environ", func(struct{}) int {
		b, _ := io.ReadAll(os.Stdin)
		rec, _ := json.Marshal(workertest.Record{Event: "task", PID: os.Getpid(), Stdin: string(b), Args: os.Environ()})
		os.Stdout.Write(append(rec, '\n'))
		if string(b) == "retry" && os.Getenv(qrun.EnvTaskAttempt) == "1" {
			return 3
		}
		return 0
	})
}

// taskRecords returns the records of the pertask-environ helper in the
// launcher's stderr, each with its environment as a map; it fails on a
// variable set twice.
func taskRecords(t *testing.T, stderr string) []workertest.Record {
	t.Helper()
	var recs []workertest.Record
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r workertest.Record
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Event != "task" {
			continue
		}
		r.Env = map[string]string{}
		for _, kv := range r.Args {
			k, v, _ := strings.Cut(kv, "=")
			if old, dup := r.Env[k]; dup {
				t.Errorf("process %d: %s set twice (%q and %q)", r.PID, k, old, v)
			}
			r.Env[k] = v
		}
		recs = append(recs, r)
	}
	return recs
}

// The environment of per-task processes is built from one template per run
// (issue 14): each process still gets its own trace context, attempt and
// identity. Checked over the wire: every process's TRACEPARENT names the
// CONSUMER span of its own attempt (in its task's trace when the task
// carried one), QRUN_TASK_ID and QRUN_TASK_ATTEMPT are its attempt's, and
// service.instance.id is the process's own. Values the launcher inherited
// for those variables (it may itself run as a task) are replaced, not
// repeated.
func TestPerTaskProcessesGetTheirOwnContext(t *testing.T) {
	t.Parallel()
	r := otlptest.NewGRPC(t)
	traces := []string{
		"11111111111111111111111111111111", "22222222222222222222222222222222", "33333333333333333333333333333333",
	}
	var input strings.Builder
	want := map[string]string{}     // task id -> the trace its carrier names, "" for none
	payloads := map[string]string{} // task id -> payload
	for i := range 12 {
		id := fmt.Sprintf("t%d", i)
		payload := "ok"
		if i%4 == 1 {
			payload = "retry"
		}
		payloads[id] = payload
		if i%2 == 0 {
			tr := traces[i%3]
			want[id] = tr
			fmt.Fprintf(&input, `{"id":%q,"payload":%q,"carrier":{"traceparent":"00-%s-%s-01"}}`+"\n", id, payload, tr, inheritedSpan)
		} else {
			want[id] = ""
			fmt.Fprintf(&input, `{"id":%q,"payload":%q}`+"\n", id, payload)
		}
	}
	env := append(workertest.Environ("pertask-environ"), r.Env()...)
	env = append(env, "OTEL_SERVICE_NAME=pt", "TRACEPARENT="+inheritedTP,
		qrun.EnvTaskID+"=outer", qrun.EnvTaskAttempt+"=9", "OTEL_RESOURCE_ATTRIBUTES=team=a")
	results, res := runTasks(t, env, input.String(), "--name", "pt", "--per-task", "--workers", "3", "--max-attempts", "2", os.Args[0])
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for id := range want {
		if results[id].Status != "ok" {
			t.Errorf("task %s: %+v", id, results[id])
		}
	}
	recs := taskRecords(t, res.stderr)
	if len(recs) != 15 { // 12 tasks, 3 of them twice
		t.Fatalf("%d per-task processes, want 15 (12 tasks, 3 of them twice)", len(recs))
	}
	spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(spansNamed(s, "process pt")) == 15 }, 30*time.Second)
	byAttempt := map[string]otlptest.Span{}
	for _, s := range spansNamed(spans, "process pt") {
		byAttempt[fmt.Sprintf("%v/%v", s.Attrs["messaging.message.id"], s.Attrs["qrun.task.attempt"])] = s
	}
	instances := map[string]bool{}
	for _, rec := range recs {
		e := rec.Env
		id, attempt := e[qrun.EnvTaskID], e[qrun.EnvTaskAttempt]
		s, ok := byAttempt[id+"/"+attempt]
		if !ok {
			t.Errorf("process %d: no CONSUMER span for task %q attempt %q", rec.PID, id, attempt)
			continue
		}
		if got, wantTP := e["TRACEPARENT"], "00-"+s.TraceID+"-"+s.SpanID+"-01"; got != wantTP {
			t.Errorf("task %s attempt %s: TRACEPARENT %q, want its own span's %q", id, attempt, got, wantTP)
		}
		if tr := want[id]; tr != "" && s.TraceID != tr {
			t.Errorf("task %s: span in trace %s, want its carrier's %s", id, s.TraceID, tr)
		}
		if rec.Stdin != payloads[id] {
			t.Errorf("task %s: payload %q, want %q", id, rec.Stdin, payloads[id])
		}
		attrs := e["OTEL_RESOURCE_ATTRIBUTES"]
		inst := ""
		for _, kv := range strings.Split(attrs, ",") {
			if v, ok := strings.CutPrefix(kv, "service.instance.id="); ok {
				inst = v
			}
		}
		if !strings.HasPrefix(attrs, "team=a,service.instance.id=") || inst == "" || instances[inst] {
			t.Errorf("task %s attempt %s: OTEL_RESOURCE_ATTRIBUTES %q: want the user's, then an instance id of its own", id, attempt, attrs)
		}
		instances[inst] = true
		if w := e[qrun.EnvWorkerIndex]; s.Attrs["messaging.client.id"] != "pt/"+w {
			t.Errorf("task %s: QRUN_WORKER_INDEX %s, span's client %v", id, w, s.Attrs["messaging.client.id"])
		}
	}
}

// Without an SDK (OTEL_SDK_DISABLED) a task's own carrier reaches its
// process in place of the carrier the launcher inherited, each variable
// once; a task without one gets the inherited carrier.
func TestPerTaskCarrierWithoutSDK(t *testing.T) {
	t.Parallel()
	own := "00-" + strings.Repeat("ab", 16) + "-" + strings.Repeat("cd", 8) + "-01"
	input := `{"id":"own","payload":"x","carrier":{"traceparent":"` + own + `"}}` + "\n" + `{"id":"none","payload":"y"}` + "\n"
	env := append(workertest.Environ("pertask-environ"), "OTEL_SDK_DISABLED=true",
		"TRACEPARENT="+inheritedTP, "TRACESTATE=inherited=1")
	results, res := runTasks(t, env, input, "--per-task", "--workers", "2", os.Args[0])
	if res.code != 0 || len(results) != 2 {
		t.Fatalf("exit %d, results %v; stderr:\n%s", res.code, results, res.stderr)
	}
	recs := taskRecords(t, res.stderr)
	if len(recs) != 2 {
		t.Fatalf("%d processes, want 2", len(recs))
	}
	for _, rec := range recs {
		e := rec.Env
		switch e[qrun.EnvTaskID] {
		case "own":
			if e["TRACEPARENT"] != own || e["TRACESTATE"] != "" {
				t.Errorf("task with a carrier: TRACEPARENT %q TRACESTATE %q; want its own carrier only", e["TRACEPARENT"], e["TRACESTATE"])
			}
		case "none":
			if e["TRACEPARENT"] != inheritedTP || e["TRACESTATE"] != "inherited=1" {
				t.Errorf("task without a carrier: TRACEPARENT %q TRACESTATE %q; want the inherited ones", e["TRACEPARENT"], e["TRACESTATE"])
			}
		default:
			t.Errorf("process with QRUN_TASK_ID %q", e[qrun.EnvTaskID])
		}
	}
}
