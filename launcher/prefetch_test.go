package launcher_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// batchWorker reads HELPER_BATCH task lines before it answers any, then
// answers them in order, and again: a worker that only makes progress when
// the launcher writes several tasks ahead of its replies.
func batchWorker() int {
	n, _ := strconv.Atoi(os.Getenv("HELPER_BATCH"))
	replies := os.NewFile(3, "replies")
	sc := bufio.NewScanner(os.Stdin)
	var held []taskproto.WorkerTask
	flush := func() {
		var out []byte
		for _, wt := range held {
			result, _ := json.Marshal(map[string]any{"traceparent": wt.Carrier.Get("traceparent")})
			out = taskproto.AppendReply(out, taskproto.Reply{ID: wt.ID, OK: true, Attempt: wt.Attempt, Result: result})
		}
		replies.Write(out)
		held = held[:0]
	}
	for sc.Scan() {
		wt, err := taskproto.ParseWorkerTask(sc.Bytes())
		if err != nil {
			fmt.Fprintln(os.Stderr, "batchworker:", err)
			return 1
		}
		if held = append(held, wt); len(held) == n {
			flush()
		}
	}
	flush()
	return 0
}

// With prefetch 16, tasks are written ahead of the replies: a worker that
// answers only after reading 16 tasks (it would wait forever with less)
// runs every task, and each task has
// its own CONSUMER span whose context the worker received.
func TestPrefetchWritesAhead(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	const n = 320
	// One worker: it holds exactly what the launcher wrote ahead, so with
	// n a multiple of 16 every batch fills (with two, the last tasks may
	// split unevenly and a batch would wait for lines that never come).
	th := startTasks(t, strings.NewReader(lines(n, strconv.Itoa)), launcher.WithPrefetch(16), launcher.WithWorkers(1),
		launcher.WithQueueLimit(64), launcher.WithEnviron(helperEnviron("batchworker", "HELPER_BATCH=16")),
		launcher.WithTracerProvider(tp), launcher.WithPropagator(propagation.TraceContext{}))
	status, res := th.all(t)
	if status != 0 || len(res) != n {
		t.Fatalf("status %d, %d results; want 0 and %d", status, len(res), n)
	}
	spans := map[string]trace.SpanContext{}
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindConsumer {
			spans[s.SpanContext().SpanID().String()] = s.SpanContext()
		}
	}
	if len(spans) != n {
		t.Errorf("%d CONSUMER spans for %d tasks", len(spans), n)
	}
	seen := map[string]bool{}
	for id, r := range res {
		var got struct{ Traceparent string }
		json.Unmarshal(r.Result, &got)
		parts := strings.Split(got.Traceparent, "-")
		if r.Status != taskproto.StatusOK || r.Attempts != 1 || len(parts) != 4 {
			t.Fatalf("task %s: %+v", id, r)
		}
		sc, ok := spans[parts[2]]
		if !ok || sc.TraceID().String() != r.TraceID || parts[1] != r.TraceID || seen[parts[2]] {
			t.Errorf("task %s: worker carrier %q, result trace %s: not its own span", id, got.Traceparent, r.TraceID)
		}
		seen[parts[2]] = true
	}
}

// A worker that dies with tasks queued on it: the task it was working on
// ends by the usual rules (lost), the tasks behind it run again on its
// replacement without an attempt charged, in order, and nothing else is
// lost.
func TestPrefetchWorkerDeathRequeuesUncharged(t *testing.T) {
	const n = 200
	input := lines(n, func(i int) string {
		if i == 50 {
			return `{"id":"crash","payload":{"crash":true}}`
		}
		return `{"id":"` + strconv.Itoa(i) + `"}`
	})
	th := startTasks(t, strings.NewReader(input), launcher.WithPrefetch(16), launcher.WithWorkers(1),
		launcher.WithMaxAttempts(1), launcher.WithEnviron(helperEnviron("taskworker")))
	status, res := th.all(t)
	if status != 1 || len(res) != n {
		t.Fatalf("status %d, %d results; want 1 and %d", status, len(res), n)
	}
	for id, r := range res {
		want := taskproto.StatusOK
		if id == "crash" {
			want = taskproto.StatusLost
		}
		if r.Status != want || r.Attempts != 1 {
			t.Errorf("task %s: %s after %d attempts, want %s after 1", id, r.Status, r.Attempts, want)
		}
	}
}

// Results are batched while the loop is busy, never held while it waits:
// the result of a task that ended is written although the other task in
// flight runs on, and nothing else happens.
func TestResultWrittenWhileTheLoopWaits(t *testing.T) {
	input := "quick\n" + `{"id":"slow","payload":{"sleep_ms":600000}}` + "\n"
	th := startTasks(t, strings.NewReader(input), launcher.WithWorkers(2), launcher.WithStopGrace(0),
		launcher.WithEnviron(helperEnviron("taskworker")))
	var first taskproto.Result
	select {
	case first = <-th.results:
	case <-th.returned:
		t.Fatal("the launcher ended before writing a result")
	case <-time.After(patience):
		t.Fatal("no result while a task runs on: the results of a waiting loop are held")
	}
	if first.ID != "1" || first.Status != taskproto.StatusOK {
		t.Fatalf("first result %+v, want task 1 ok", first)
	}
	th.sigs <- syscall.SIGTERM
	th.sigs <- syscall.SIGTERM
	status, res := th.all(t)
	if status == 0 || res["slow"].Status == taskproto.StatusOK {
		t.Fatalf("status %d, slow %+v", status, res["slow"])
	}
}

// closeStdinWorker answers its tasks, reading its stdin a byte at a time
// so that the lines behind the one it reads stay in the pipe. A task whose
// payload is {"close":true} makes it wait until a line is behind it,
// close its stdin, wait until the FIFO HELPER_FIFO has been opened for
// writing and closed, answer the task and run on without reading: a
// worker that takes no more tasks and does not exit.
func closeStdinWorker() int {
	replies := os.NewFile(3, "replies")
	var line []byte
	b := make([]byte, 1)
	for {
		if n, err := os.Stdin.Read(b); n == 0 || err != nil {
			return 0
		}
		if b[0] != '\n' {
			line = append(line, b[0])
			continue
		}
		wt, err := taskproto.ParseWorkerTask(line)
		line = line[:0]
		if err != nil {
			fmt.Fprintln(os.Stderr, "closestdin:", err)
			return 1
		}
		if string(wt.Payload) == `{"close":true}` {
			fds := []unix.PollFd{{Fd: 0, Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			os.Stdin.Close()
			f, err := os.Open(os.Getenv("HELPER_FIFO")) // until the test opens it for writing
			if err != nil {
				fmt.Fprintln(os.Stderr, "closestdin:", err)
				return 1
			}
			_, _ = io.ReadAll(f) // until it closes it
			f.Close()
		}
		replies.Write(taskproto.AppendReply(nil, taskproto.Reply{ID: wt.ID, OK: true, Attempt: wt.Attempt}))
		if string(wt.Payload) == `{"close":true}` {
			var p [2]int // a pipe nobody writes: idle until the launcher stops it
			if err := syscall.Pipe(p[:]); err != nil {
				return 1
			}
			for {
				_, _ = syscall.Read(p[0], b)
			}
		}
	}
}

// A worker that closes its stdin and keeps running takes no more tasks:
// the task lines it never read are queued again at once without an
// attempt charged, and run on its replacement, while the task it did read
// stays in flight until it answers it. Before, nothing told the launcher
// until its next write (with the lines written ahead, none came): the
// unread tasks waited for a timeout or the worker's exit, and the run
// for this test waited for ever. With large payloads the pipe is full
// when the worker closes it: its write end then reports EPOLLERR alone.
func TestWorkerClosingStdinHandsBackUnread(t *testing.T) {
	for _, size := range []int{1, 40_000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "release")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			pad := `"` + strings.Repeat("x", size) + `"`
			input := `{"id":"hold","payload":{"close":true}}` + "\n" +
				`{"id":"a","payload":` + pad + `}` + "\n" + `{"id":"b","payload":` + pad + `}` + "\n" +
				`{"id":"c","payload":` + pad + `}` + "\n"
			th := startTasks(t, strings.NewReader(input), launcher.WithPrefetch(4), launcher.WithWorkers(1),
				launcher.WithMaxAttempts(1), launcher.WithEnviron(helperEnviron("closestdin", "HELPER_FIFO="+fifo)))
			th.waitLog("worker closed its stdin; it is replaced once it has answered the tasks it read"+
				" (a worker that reads ahead holds every line it took; timeout bounds them)",
				map[string]string{"held": "1", "queued_again": "3", "charged": "0"})
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // the holder answers "hold" now
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			status, res := th.all(t)
			if status != 0 || len(res) != 4 {
				t.Fatalf("status %d, %d results; want 0 and 4", status, len(res))
			}
			for id, r := range res {
				if r.Status != taskproto.StatusOK || r.Attempts != 1 {
					t.Errorf("task %s: %s after %d attempts, want ok after 1", id, r.Status, r.Attempts)
				}
			}
		})
	}
}
