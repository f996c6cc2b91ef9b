// Package workertest turns a test binary into the fake workers of
// otel-qrun's tests: TestMain calls [Run], and a process started with
// QRUN_TEST_HELPER=name runs the helper of that name instead of the tests.
// Helpers report on stdout, one JSON [Record] a line, so tests wait on a
// pipe rather than on sleeps. It is imported only by tests.
package workertest

import (
	"bufio"
	"context"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"

	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/forkinit"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"golang.org/x/sys/unix"
)

// HelperEnv names the helper a re-executed test binary runs.
const HelperEnv = "QRUN_TEST_HELPER"

// Run runs the helper named by QRUN_TEST_HELPER, looked up in extra first,
// and reports whether it did and the helper's exit status. TestMain calls it
// first: if ok { os.Exit(code) }.
func Run(extra map[string]func() int) (code int, ok bool) {
	name := os.Getenv(HelperEnv)
	if name == "" {
		return 0, false
	}
	if f, found := extra[name]; found {
		return f(), true
	}
	if f, found := treeHelpers[name]; found {
		return f(), true
	}
	return runHelper(name), true
}

// Environ returns the current environment set up to run helper name, plus
// extra entries.
func Environ(name string, extra ...string) []string {
	env := WithoutEnv(os.Environ(), HelperEnv)
	// Race-enabled binaries otherwise sleep a second at exit.
	env = append(env, "GORACE=atexit_sleep_ms=0")
	return append(append(env, HelperEnv+"="+name), extra...)
}

// Record is one line a helper writes to its stdout.
type Record struct {
	Event  string            `json:"event"`
	Index  string            `json:"index"`
	PID    int               `json:"pid"`
	PGID   int               `json:"pgid"`
	Args   []string          `json:"args,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	Signal string            `json:"signal,omitempty"`
	Child  int               `json:"child,omitempty"`
	CPUs   []int             `json:"cpus,omitempty"`
	Stdin  string            `json:"stdin,omitempty"`
}

func emit(r Record) {
	r.Index = os.Getenv("QRUN_WORKER_INDEX")
	r.PID = os.Getpid()
	r.PGID, _ = unix.Getpgid(0)
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
}

func envMap() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func runHelper(name string) int {
	code, _ := strconv.Atoi(os.Getenv("HELPER_EXIT"))
	if name == "byindex" { // HELPER_<index> names the helper of each worker
		name = os.Getenv("HELPER_" + os.Getenv("QRUN_WORKER_INDEX"))
	}
	switch name {
	case "env": // report environment and argv, then exit HELPER_EXIT
		emit(Record{Event: "ready", Args: os.Args[1:], Env: envMap()})
		return code
	case "exit": // exit at once with HELPER_EXIT
		emit(Record{Event: "ready"})
		return code
	case "selfkill": // die of the signal HELPER_SIGNAL after HELPER_DELAY_MS (a shell does it: Go catches most signals)
		emit(Record{Event: "ready"})
		if ms, _ := strconv.Atoi(os.Getenv("HELPER_DELAY_MS")); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		err := syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -" + os.Getenv("HELPER_SIGNAL") + " $$"}, os.Environ())
		panic(err)
	case "trap": // run until TERM, then exit HELPER_EXIT
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		emit(Record{Event: "ready"})
		<-c
		return code
	case "ignore": // ignore TERM and run until killed
		signal.Ignore(syscall.SIGTERM)
		emit(Record{Event: "ready"})
		select {}
	case "signals": // report every forwarded signal; exit 0 on TERM
		c := make(chan os.Signal, 8)
		signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM)
		emit(Record{Event: "ready"})
		for s := range c {
			if s == syscall.SIGTERM {
				return 0
			}
			emit(Record{Event: "signal", Signal: unix.SignalName(s.(syscall.Signal))})
		}
	case "grandchild": // start a TERM-ignoring grandchild in the same group; HELPER_EXIT<0: run until TERM
		child := StartHelper("ignore-quiet")
		emit(Record{Event: "ready", Child: child})
		if code >= 0 {
			return code
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		return 0
	case "ignore-quiet":
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "orphans": // leave HELPER_N short-lived orphans; exit HELPER_EXIT, or on TERM when < 0
		n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
		for i := 0; i < n; i++ {
			var ws syscall.WaitStatus
			pid := StartHelper("orphan-parent")
			syscall.Wait4(pid, &ws, 0, nil)
		}
		emit(Record{Event: "ready"})
		if code >= 0 {
			time.Sleep(200 * time.Millisecond)
			return code
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		return 0
	case "orphan-parent": // start a short-lived child, report it, and exit, orphaning it
		emit(Record{Event: "orphan", Child: StartHelper("short")})
		return 0
	case "short":
		time.Sleep(50 * time.Millisecond)
		return 0
	case "memory": // report, touch HELPER_MB MiB, then run until TERM
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		emit(Record{Event: "ready"})
		mb, _ := strconv.Atoi(os.Getenv("HELPER_MB"))
		buf := make([]byte, mb<<20)
		for i := range buf {
			if i%4096 == 0 {
				buf[i] = 1
			}
		}
		<-c
		runtime.KeepAlive(buf)
		return code
	case "affinity":
		emit(Record{Event: "ready", CPUs: affinity()})
		return 0
	case "otelworker": // a Go worker built on forkinit: one span "work", then exit HELPER_EXIT
		ctx, shutdown, err := forkinit.Init(context.Background(), forkinit.WithServiceName("qrun-test-worker"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		tenant := baggage.FromContext(ctx).Member("tenant").Value()
		_, span := otel.Tracer("workertest").Start(ctx, "work",
			trace.WithAttributes(attribute.String("baggage.tenant", tenant)))
		span.End()
		emit(Record{Event: "ready", Env: envMap()})
		if err := shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
		}
		return code
	case "taskworker": // a persistent task worker speaking the protocol directly
		return taskWorker()
	case "pertask": // a per_task process: payload on stdin; "fail" exits 3, "sleep" sleeps
		b, _ := io.ReadAll(os.Stdin)
		emit(Record{Event: "ready", Stdin: string(b), Env: envMap()})
		switch string(b) {
		case "fail":
			return 3
		case "sleep":
			time.Sleep(time.Minute)
		}
		return 0
	case "readline": // read one line of stdin (a terminal, say) and report it
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		emit(Record{Event: "ready", Stdin: strings.TrimSpace(line)})
		return 0
	case "stdin":
		b, _ := io.ReadAll(os.Stdin)
		emit(Record{Event: "ready", Stdin: string(b)})
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
	return 100
}

// StartHelper starts another helper in the same process group, without
// waiting for it.
func StartHelper(name string) int {
	env := append(WithoutEnv(os.Environ(), HelperEnv), HelperEnv+"="+name)
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]}, &syscall.ProcAttr{
		Env: env, Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		panic(err)
	}
	return pid
}

// WithoutEnv returns env without the entries of key.
func WithoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Gone waits until no process with pid exists (zombies count as gone).
func Gone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for Alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still alive", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	if unix.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // not Linux: trust kill
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Zombies counts zombie processes whose parent is ppid.
func Zombies(ppid int) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(ppid) {
			n++
		}
	}
	return n
}

// taskPayload is what the taskworker helper understands in a payload object.
type taskPayload struct {
	SleepMS   int  `json:"sleep_ms"`
	Fail      bool `json:"fail"`
	FailUntil int  `json:"fail_until"` // fail the attempts before this one
	Crash     bool `json:"crash"`
	Garbage   bool `json:"garbage"`
	WrongID   bool `json:"wrong_id"`
	AllocMB   int  `json:"alloc_mb"` // touch this many MiB and keep them
}

// kept holds the memory of alloc_mb payloads for the worker's life.
var kept [][]byte

// taskWorker reads task lines on stdin and replies on fd 3. Its reply's
// result echoes the attempt and the carrier it was handed.
func taskWorker() int {
	replies := os.NewFile(3, "replies")
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	emit(Record{Event: "ready"})
	for sc.Scan() {
		wt, err := taskproto.ParseWorkerTask(sc.Bytes())
		if err != nil {
			fmt.Fprintln(os.Stderr, "taskworker:", err)
			continue
		}
		var p taskPayload
		_ = json.Unmarshal(wt.Payload, &p) // other payloads: a plain ok
		if p.SleepMS > 0 {
			time.Sleep(time.Duration(p.SleepMS) * time.Millisecond)
		}
		if p.AllocMB > 0 {
			buf := make([]byte, p.AllocMB<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1
			}
			kept = append(kept, buf)
		}
		result, _ := json.Marshal(map[string]any{"attempt": wt.Attempt, "traceparent": wt.Carrier.Get("traceparent")})
		rep := taskproto.Reply{ID: wt.ID, OK: true, Result: result}
		switch {
		case p.Crash:
			os.Exit(9)
		case p.Garbage:
			replies.Write([]byte("this is not a reply\n"))
			continue
		case p.WrongID:
			rep.ID = "someone-else"
		case p.Fail || wt.Attempt < p.FailUntil:
			rep.OK, rep.Error = false, "failed on purpose"
		}
		replies.Write(taskproto.AppendReply(nil, rep))
	}
	emit(Record{Event: "flushed"}) // stdin ended: what a worker flushes before it exits
	return 0
}
