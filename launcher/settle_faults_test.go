package launcher_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// The tests of this file are faults found in the task mode state machine
// after issue 11, each as a user met it.

// A reply written just before the worker exits always counts: the exit is
// charged to nothing until the reply pipe has been read to its end. This
// is also gunicorn's max_requests pattern: answer the last task, exit.
func TestReplyWrittenBeforeExitCounts(t *testing.T) {
	const n = 40
	in := lines(n, func(i int) string { return `{"id":"` + strconv.Itoa(i) + `"}` })
	th := startTasksCmd(t, sh(`read -r l; `+shReply), strings.NewReader(in), shEnv(),
		launcher.WithWorkers(2), launcher.WithBackoff(time.Millisecond, time.Millisecond))
	status, res := th.all(t)
	want := map[string]taskproto.Status{}
	for i := 1; i <= n; i++ {
		want[strconv.Itoa(i)] = "ok"
	}
	wantStatuses(t, res, want)
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
}

// A persistent worker that closes its stdin but keeps running can take no
// task: the failed write of the next task line replaces it, and the task,
// which never reached it, goes to the next worker uncharged.
func TestWorkerThatClosedItsStdinIsReplaced(t *testing.T) {
	worker := `echo '{"ready":true}' >&3; read -r l; exec 0<&-; ` + shReply + ` exec sleep 600`
	th := startTasksCmd(t, sh(worker), strings.NewReader(`{"id":"1"}`+"\n"+`{"id":"2"}`+"\n"), shEnv(),
		launcher.WithStopGrace(time.Second))
	status, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"1": "ok", "2": "ok"})
	if r := res["2"]; r.Attempts != 1 {
		t.Errorf("task 2: %+v, want 1 attempt", r)
	}
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
}

// A first SIGTERM during a stop the launcher began by itself (here the end
// of the input) lets the cooperative stop go on: the worker, flushing
// after its stdin closed, is not killed. Only a second one kills at once.
func TestFirstSIGTERMDuringEndOfInputStopIsCooperative(t *testing.T) {
	gate := t.TempDir() + "/go"
	worker := `read -r l; ` + shReply + ` read -r l || echo '{"event":"eof"}'; ` +
		`while [ ! -e ` + gate + ` ]; do sleep 0.01; done; echo '{"event":"flushed"}'`
	th := startTasksCmd(t, sh(worker), strings.NewReader(`{"id":"1"}`+"\n"), shEnv(),
		launcher.WithStopGrace(10*patience))
	for th.next().Event != "eof" {
	}
	th.sigs <- syscall.SIGTERM
	for {
		m := <-th.logs
		if strings.Contains(m["msg"], "SIGTERM") {
			if strings.Contains(m["msg"], "killing") {
				t.Errorf("first SIGTERM: %q", m["msg"])
			}
			break
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if ev := th.next().Event; ev != "flushed" {
		t.Errorf("event %q, want flushed", ev)
	}
	status, res := th.all(t)
	wantStatuses(t, res, map[string]taskproto.Status{"1": "ok"})
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
}

// start_timeout holds for every worker, whether or not a worker of the run
// has announced readiness yet, and whether or not it holds a task: a
// worker silent for start_timeout is replaced as a failed start, its task
// queued again uncharged, and the run gives up after max_restarts.
func TestStartTimeoutHoldsBeforeAnyReadiness(t *testing.T) {
	th := startTasksCmd(t, []string{"/bin/sleep", "600"}, strings.NewReader(`{"id":"1"}`+"\n"), shEnv(),
		launcher.WithStartTimeout(200*time.Millisecond), launcher.WithMaxRestarts(1),
		launcher.WithBackoff(time.Millisecond, 10*time.Millisecond), launcher.WithStopGrace(time.Second))
	status, res := th.all(t)
	if r := res["1"]; r.Status != "cancelled" || r.Attempts != 0 {
		t.Errorf("task 1: %+v, want cancelled without an attempt (its workers never started)", r)
	}
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
}
