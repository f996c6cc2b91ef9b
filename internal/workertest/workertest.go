// Package workertest turns a test binary into the fake workers of
// otel-qrun's tests: TestMain calls [Run], and a process started with the
// environment of [Environ] or [EnvironWith] runs the named helper instead
// of the tests. Helpers are registered by name with [Register], each with a
// type of parameters; the parameters travel, JSON-encoded, in one
// environment variable. Helpers report on stdout, one JSON [Record] a
// line, so tests wait on a pipe rather than on sleeps. It is imported only
// by tests.
//
// The built-in helpers take [Params]:
//
//	env            report the environment and argv, then exit Exit
//	exit           exit at once with Exit
//	selfkill       die of the signal Signal after Delay (a shell does it: Go catches most signals)
//	trap           run until SIGTERM, then exit Exit
//	ignore         ignore SIGTERM and run until killed
//	signals        report every forwarded signal; exit 0 on SIGTERM
//	grandchild     start a SIGTERM-ignoring grandchild in the same group; Exit < 0: run until SIGTERM
//	orphans        leave N short-lived orphans; exit Exit, or on SIGTERM when Exit < 0
//	memory         touch MB MiB, then run until SIGTERM and exit Exit
//	affinity       report the CPUs it may run on
//	otelworker     a Go worker built on forkinit: one span "work", then exit Exit
//	taskworker     a persistent task worker speaking the protocol directly (payload: see taskPayload)
//	pertask        a per_task process: payload on stdin; "fail" exits 3, "sleep" sleeps
//	readline       read one line of stdin (a terminal, say) and report it
//	readline-exit  read one line of stdin, report it, exit Exit
//	stdin          read stdin to its end and report it
//	byindex        run the helper ByIndex[QRUN_WORKER_INDEX] with the same parameters
//
// and the process-tree helpers of tree.go (tree, double-fork, sleeper,
// stubborn, noreap).
package workertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/forkinit"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// Environment variables of a re-executed test binary.
const (
	// HelperEnv names the helper it runs.
	HelperEnv = "QRUN_TEST_HELPER"
	// ParamsEnv holds the helper's parameters, JSON-encoded.
	ParamsEnv = "QRUN_TEST_PARAMS"
)

// Params are the parameters of the built-in helpers; each helper reads the
// fields its line in the package documentation names.
type Params struct {
	Exit    int           `json:"exit,omitempty"`     // exit status
	Signal  int           `json:"signal,omitempty"`   // selfkill: the signal to die of
	Delay   time.Duration `json:"delay,omitempty"`    // selfkill: the time before it dies
	N       int           `json:"n,omitempty"`        // orphans: how many to leave
	MB      int           `json:"mb,omitempty"`       // memory: MiB to touch and keep
	Child   string        `json:"child,omitempty"`    // tree, double-fork: the children's helper (default sleeper)
	ByIndex []string      `json:"by_index,omitempty"` // byindex: the helper of each worker index
}

// helper is one registered helper: its parameter type and its entry point
// from the encoded parameters.
type helper struct {
	params reflect.Type
	run    func(raw string) int
}

// registry holds every helper by name. It is filled by Register during
// package initialization (this package's built-ins, a test package's own
// helpers) and only read afterwards.
var registry = map[string]helper{}

// Register adds the helper name, which run runs with its parameters of type
// P, decoded from the environment of [EnvironWith]. Call it from an init
// function or a package-level variable, so that the re-executed binary has
// it before TestMain. A name registered twice panics.
func Register[P any](name string, run func(P) int) {
	if _, dup := registry[name]; dup {
		panic("workertest: helper " + name + " registered twice")
	}
	registry[name] = helper{params: reflect.TypeFor[P](), run: func(raw string) int {
		var p P
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				fmt.Fprintf(os.Stderr, "helper %s: parameters %s: %v\n", name, raw, err)
				return 100
			}
		}
		return run(p)
	}}
}

// Run runs the helper named by QRUN_TEST_HELPER, and reports whether it did
// and the helper's exit status. TestMain calls it first:
// if code, ok := workertest.Run(); ok { os.Exit(code) }.
func Run() (code int, ok bool) {
	name := os.Getenv(HelperEnv)
	if name == "" {
		return 0, false
	}
	return runNamed(name, os.Getenv(ParamsEnv)), true
}

func runNamed(name, raw string) int {
	h, found := registry[name]
	if !found {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 100
	}
	if !selfStarted[name] {
		Started()
	}
	return h.run(raw)
}

// Environ returns the current environment set up to run helper name with
// zero parameters, plus extra entries.
func Environ(name string, extra ...string) []string {
	return EnvironWith(name, nil, extra...)
}

// EnvironWith returns the current environment set up to run helper name
// with params (nil for zero parameters), plus extra entries. It panics when
// no helper has that name or params is not of the helper's type.
func EnvironWith(name string, params any, extra ...string) []string {
	env := WithoutEnv(WithoutEnv(os.Environ(), HelperEnv), ParamsEnv)
	// Race-enabled binaries otherwise sleep a second at exit.
	env = append(env, "GORACE=atexit_sleep_ms=0")
	return append(append(env, Entries(name, params)...), extra...)
}

// Entries returns the environment entries that select helper name with
// params (nil for zero parameters): QRUN_TEST_HELPER and QRUN_TEST_PARAMS.
// The name "" selects no helper (the environment of a real program, such
// as RQ, that a test runs behind otel-qrun): no entries. It panics when no
// helper has that name or params is not of its type.
func Entries(name string, params any) []string {
	if name == "" && params == nil {
		return nil
	}
	h, ok := registry[name]
	if !ok {
		panic(fmt.Sprintf("workertest: no helper %q", name))
	}
	if params == nil {
		return []string{HelperEnv + "=" + name}
	}
	if t := reflect.TypeOf(params); t != h.params {
		panic(fmt.Sprintf("workertest: helper %q takes %v, not %v", name, h.params, t))
	}
	b, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	return []string{HelperEnv + "=" + name, ParamsEnv + "=" + string(b)}
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
	r.Index = os.Getenv(qrun.EnvWorkerIndex)
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

// notifyTERM returns a channel that receives the process's SIGTERM. Call it
// before reporting ready, so that no SIGTERM is missed.
func notifyTERM() <-chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	return c
}

func init() {
	Register("env", func(p Params) int {
		emit(Record{Event: "ready", Args: os.Args[1:], Env: envMap()})
		return p.Exit
	})
	Register("exit", func(p Params) int {
		emit(Record{Event: "ready"})
		return p.Exit
	})
	Register("selfkill", func(p Params) int {
		emit(Record{Event: "ready"})
		time.Sleep(p.Delay)
		err := syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -" + strconv.Itoa(p.Signal) + " $$"}, os.Environ())
		panic(err)
	})
	Register("trap", func(p Params) int {
		c := notifyTERM()
		emit(Record{Event: "ready"})
		<-c
		return p.Exit
	})
	Register("ignore", func(Params) int {
		signal.Ignore(syscall.SIGTERM)
		emit(Record{Event: "ready"})
		select {}
	})
	Register("signals", func(Params) int {
		c := make(chan os.Signal, 8)
		signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM)
		emit(Record{Event: "ready"})
		for s := range c {
			if s == syscall.SIGTERM {
				return 0
			}
			emit(Record{Event: "signal", Signal: unix.SignalName(s.(syscall.Signal))})
		}
		return 0
	})
	Register("grandchild", func(p Params) int {
		child := startHelper("ignore-quiet", Params{}, nil)
		if p.Exit >= 0 {
			emit(Record{Event: "ready", Child: child})
			return p.Exit
		}
		c := notifyTERM()
		emit(Record{Event: "ready", Child: child})
		<-c
		return 0
	})
	Register("ignore-quiet", func(Params) int {
		signal.Ignore(syscall.SIGTERM)
		select {}
	})
	Register("orphans", func(p Params) int {
		for i := 0; i < p.N; i++ {
			var ws syscall.WaitStatus
			pid := startHelper("orphan-parent", Params{}, nil)
			syscall.Wait4(pid, &ws, 0, nil)
		}
		if p.Exit >= 0 {
			emit(Record{Event: "ready"})
			time.Sleep(200 * time.Millisecond)
			return p.Exit
		}
		c := notifyTERM()
		emit(Record{Event: "ready"})
		<-c
		return 0
	})
	Register("orphan-parent", func(Params) int { // start a short-lived child, report it, and exit, orphaning it
		emit(Record{Event: "orphan", Child: startHelper("short", Params{}, nil)})
		return 0
	})
	Register("short", func(Params) int {
		time.Sleep(50 * time.Millisecond)
		return 0
	})
	Register("memory", func(p Params) int {
		c := notifyTERM()
		emit(Record{Event: "ready"})
		buf := make([]byte, p.MB<<20)
		for i := range buf {
			if i%4096 == 0 {
				buf[i] = 1
			}
		}
		<-c
		runtime.KeepAlive(buf)
		return p.Exit
	})
	Register("affinity", func(Params) int {
		emit(Record{Event: "ready", CPUs: affinity()})
		return 0
	})
	Register("otelworker", otelWorker)
	Register("taskworker", func(Params) int { return taskWorker() })
	Register("pertask", func(Params) int {
		b, _ := io.ReadAll(os.Stdin)
		emit(Record{Event: "ready", Stdin: string(b), Env: envMap()})
		switch string(b) {
		case "fail":
			return 3
		case "sleep":
			time.Sleep(time.Minute)
		}
		return 0
	})
	Register("readline", func(Params) int {
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		emit(Record{Event: "ready", Stdin: strings.TrimSpace(line)})
		return 0
	})
	Register("readline-exit", func(p Params) int {
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		emit(Record{Event: "ready", Stdin: strings.TrimSpace(line)})
		return p.Exit
	})
	Register("stdin", func(Params) int {
		b, _ := io.ReadAll(os.Stdin)
		emit(Record{Event: "ready", Stdin: string(b)})
		return 0
	})
	Register("byindex", func(p Params) int {
		i, err := strconv.Atoi(os.Getenv(qrun.EnvWorkerIndex))
		if err != nil || i < 0 || i >= len(p.ByIndex) {
			fmt.Fprintf(os.Stderr, "byindex: no helper for worker %q in %q\n", os.Getenv(qrun.EnvWorkerIndex), p.ByIndex)
			return 100
		}
		return runNamed(p.ByIndex[i], os.Getenv(ParamsEnv))
	})
	registerTreeHelpers()
}

// otelWorker is a Go worker built on forkinit: one span "work", then exit
// p.Exit.
func otelWorker(p Params) int {
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
	return p.Exit
}

// startHelper starts helper name with params p in the same process group
// (unless sys says otherwise), without waiting for it.
func startHelper(name string, p Params, sys *syscall.SysProcAttr) int {
	// The child closes the write end of this pipe once it is set up
	// (Started), so a test never signals a child that is still starting:
	// a stubborn child that had not yet ignored SIGTERM would die of it.
	pr, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	env := append(WithoutEnv(WithoutEnv(WithoutEnv(os.Environ(), HelperEnv), ParamsEnv), startedEnv), Entries(name, p)...)
	env = append(env, startedEnv+"=3")
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]}, &syscall.ProcAttr{
		Env: env, Files: []uintptr{0, 1, 2, pw.Fd()}, Sys: sys,
	})
	pw.Close()
	if err != nil {
		panic(err)
	}
	_, _ = io.Copy(io.Discard, pr) // until the child is set up, or gone
	pr.Close()
	return pid
}

// startedEnv names the descriptor a helper started by startHelper closes
// once it is set up (see Started).
const startedEnv = "QRUN_TEST_STARTED_FD"

// selfStarted are the helpers that call Started themselves, after setting
// up what a test relies on; runNamed calls it for every other helper.
var selfStarted = map[string]bool{"stubborn": true}

// Started tells the process that started this helper with startHelper
// that it is set up; it does nothing otherwise, and once done.
func Started() {
	if v := os.Getenv(startedEnv); v != "" {
		os.Unsetenv(startedEnv)
		if fd, err := strconv.Atoi(v); err == nil {
			syscall.Close(fd)
		}
	}
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

// Gone waits until no process with pid exists (zombies count as gone),
// for 10 seconds at most.
func Gone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		if !WaitExit(pid, deadline) {
			t.Fatalf("process %d is still alive", pid)
		}
	}
}

// pollExit is WaitExit where no pidfd can be had: it looks every 10 ms.
func pollExit(pid int, deadline time.Time) bool {
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	if unix.Kill(pid, 0) != nil {
		return false
	}
	st, err := ReadStat(pid)
	if err != nil {
		return true // not Linux: trust kill
	}
	return st.State != 'Z'
}

// Zombies counts zombie processes whose parent is ppid.
func Zombies(ppid int) int {
	n := 0
	for _, st := range Processes() {
		if st.State == 'Z' && st.PPID == ppid {
			n++
		}
	}
	return n
}

// Stat is what a test needs of /proc/PID/stat.
type Stat struct {
	PID   int
	State byte // 'R', 'S', 'Z', ...
	PPID  int
}

// ReadStat reads /proc/pid/stat. The command name may hold spaces and
// parentheses, so the fields are taken after its last ')'.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 2 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: parent %q: %w", pid, f[1], err)
	}
	return Stat{PID: pid, State: f[0][0], PPID: ppid}, nil
}

// Processes returns the stat of every process in /proc (none when /proc
// is not Linux's).
func Processes() []Stat {
	entries, _ := os.ReadDir("/proc")
	var out []Stat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out
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
	// IgnoreTerm: ignore SIGTERM from this task on (a worker hung in a
	// call that a stop signal does not reach).
	IgnoreTerm bool `json:"ignore_term"`
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
		if p.IgnoreTerm {
			signal.Ignore(syscall.SIGTERM)
		}
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
