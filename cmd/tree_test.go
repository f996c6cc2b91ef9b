package cmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// treeTag is a value unique to the test, put in the launcher's environment:
// every process of the workers' trees carries it.
func treeTag(t *testing.T) string {
	return fmt.Sprintf("QRUN_TEST_TAG=%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid(), time.Now().UnixNano())
}

// asUser is how a test runs the binary: as root, or as nobody with copies
// of the binary and of the test binary (the workers) that nobody may run.
type asUser struct {
	name   string
	bin    string // otel-qrun
	worker string // the test binary
	cred   *syscall.Credential
}

func users(t *testing.T) []asUser {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process trees are followed on Linux only")
	}
	out := []asUser{{name: "self", bin: qrunBin, worker: os.Args[0]}}
	if os.Geteuid() != 0 {
		return out
	}
	dir, err := os.MkdirTemp("", "otel-qrun-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nobody := asUser{name: "nobody", bin: filepath.Join(dir, "otel-qrun"), worker: filepath.Join(dir, "worker"),
		cred: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for src, dst := range map[string]string{qrunBin: nobody.bin, os.Args[0]: nobody.worker} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return append(out, nobody)
}

// treeRun is the binary running a "tree" worker, whose processes are known.
type treeRun struct {
	cmd    *exec.Cmd
	stderr workertest.LockedBuffer
	pids   []int // worker, child in its group, setsid child, double-forked orphan
	keeper int
}

func startTree(t *testing.T, u asUser, tag string, args ...string) *treeRun {
	t.Helper()
	r := &treeRun{cmd: exec.Command(u.bin, append(args, u.worker)...)}
	r.cmd.Env = helperEnv("tree", tag)
	r.cmd.Stderr = &r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
	got := make(chan []int, 1)
	go func() {
		var pids []int
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var rec workertest.Record
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch rec.Event {
			case "orphan":
				pids = append(pids, rec.Child)
			case "ready":
				pids = append([]int{rec.PID}, pids...)
				for _, a := range rec.Args {
					pid, _ := strconv.Atoi(a)
					pids = append(pids, pid)
				}
				got <- pids
				io.Copy(io.Discard, out)
				return
			}
		}
		got <- nil
	}()
	select {
	case r.pids = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("the tree did not start; stderr:\n%s", r.stderr.String())
	}
	if len(r.pids) != 4 {
		t.Fatalf("tree %v; stderr:\n%s", r.pids, r.stderr.String())
	}
	r.keeper = keeperOf(r.cmd.Process.Pid)
	return r
}

// keeperOf returns the pid of the keeper started by the launcher pid, or 0.
func keeperOf(pid int) int {
	for _, st := range workertest.Processes() {
		if st.PPID != pid {
			continue
		}
		if argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID)); strings.HasPrefix(string(argv), "otel-qrun-keeper\x00") {
			return st.PID
		}
	}
	return 0
}

// gone waits up to d for every pid to be gone (zombies count as gone) and
// returns how long it took, or fails.
func gone(t *testing.T, d time.Duration, tag string, pids ...int) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		left := workertest.Tagged(tag)
		for _, pid := range pids {
			if workertest.Alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return time.Since(start)
		}
		for _, pid := range left {
			if !workertest.WaitExit(pid, deadline) {
				t.Fatalf("processes left after %s: %v", d, left)
			}
		}
	}
}

// Nothing a worker started outlives a launcher killed with SIGKILL: not
// the worker's child in its group, not the child that called setsid, not
// the double-forked orphan, and not the keeper; within 2 seconds. As root
// the trees are cgroups; as nobody they are followed through /proc.
func TestSIGKILLOfTheLauncherLeavesNoTree(t *testing.T) {
	for _, u := range users(t) {
		t.Run(u.name, func(t *testing.T) {
			tag := treeTag(t)
			r := startTree(t, u, tag)
			if r.keeper == 0 {
				t.Fatalf("no keeper; stderr:\n%s", r.stderr.String())
			}
			r.cmd.Process.Signal(syscall.SIGKILL)
			r.cmd.Wait()
			took := gone(t, 2*time.Second, tag, append(r.pids, r.keeper)...)
			t.Logf("as %s: nothing left %s after SIGKILL", u.name, took)
		})
	}
}

// A graceful stop leaves nothing: the tree's members get the stop signal
// wherever they went, and the launcher exits 0 once they are gone.
func TestGracefulStopLeavesNoTree(t *testing.T) {
	for _, u := range users(t) {
		t.Run(u.name, func(t *testing.T) {
			tag := treeTag(t)
			r := startTree(t, u, tag, "--stop-grace", "60")
			start := time.Now()
			r.cmd.Process.Signal(syscall.SIGTERM)
			if err := r.cmd.Wait(); err != nil {
				t.Errorf("exit: %v, want 0; stderr:\n%s", err, r.stderr.String())
			}
			t.Logf("as %s: stopped in %s", u.name, time.Since(start))
			gone(t, 0, tag, append(r.pids, r.keeper)...)
			if strings.Contains(r.stderr.String(), "WARN") {
				t.Errorf("warning during a clean stop:\n%s", r.stderr.String())
			}
		})
	}
}

// A closed result stream (| head -1) is a graceful stop, never a death by
// SIGPIPE: the workers and what they started are stopped, one message goes
// to stderr, and the exit status is 141.
func TestClosedResultStreamStopsGracefully(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process trees are followed on Linux only")
	}
	tag := treeTag(t)
	c := exec.Command(qrunBin, "--tasks", "-", "--", "sh", "-c", "sleep 100 & exec "+os.Args[0])
	c.Env = helperEnv("taskworker", tag)
	in, outR, stderr := startPipeline(t, c)
	if _, err := in.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if line := readLine(t, outR); !strings.Contains(line, `"status":"ok"`) {
		t.Fatalf("first result %q", line)
	}
	outR.Close() // head -1 exits
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("exit: %v, want status 141", err)
			}
			if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 141 {
				t.Fatalf("launcher ended with %v, want exit status 141 (not a death by signal); stderr:\n%s", ws, stderr.String())
			}
			if n := strings.Count(stderr.String(), "result stream was closed"); n != 1 {
				t.Errorf("%d messages about the closed result stream, want 1:\n%s", n, stderr.String())
			}
			if !strings.Contains(stderr.String(), "hint=") {
				t.Errorf("the message about the closed result stream has no hint:\n%s", stderr.String())
			}
			gone(t, 0, tag)
			return
		case <-time.After(10 * time.Millisecond):
			// More tasks: their results meet the closed stream.
			if _, err := in.Write([]byte("more\n")); err != nil && i > 1000 {
				t.Fatalf("launcher does not stop: %v; stderr:\n%s", err, stderr.String())
			}
		}
	}
}

// startPipeline starts c as a stage of a pipeline: its stdin a pipe the test
// writes, its stdout a pipe the test reads (and closes, as head does). The
// process is killed at the end of the test if it is still there.
func startPipeline(t *testing.T, c *exec.Cmd) (in io.WriteCloser, out *os.File, stderr *workertest.LockedBuffer) {
	t.Helper()
	stderr = new(workertest.LockedBuffer)
	c.Stderr = stderr
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout = outW
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return in, out, stderr
}

func readLine(t *testing.T, r io.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- line
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no result line within 30s")
	}
	return ""
}

// Stale carriers: with OTEL_PROPAGATORS=b3 and an inherited TRACEPARENT,
// the worker gets B3 and no TRACEPARENT; config names each carrier
// variable once, with no placeholder value; carrier prints nothing without
// a context.
func TestStaleCarriersAreRemoved(t *testing.T) {
	stale := "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r := runQrun(t, helperEnv("env", "OTEL_PROPAGATORS=b3", stale, "UBER_TRACE_ID=stale"), os.Args[0])
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	env := records(t, r.stdout)[0].Env
	if env["B3"] == "" || env["TRACEPARENT"] != "" || env["UBER_TRACE_ID"] != "" {
		t.Errorf("worker carrier: B3=%q TRACEPARENT=%q UBER_TRACE_ID=%q; want B3 only", env["B3"], env["TRACEPARENT"], env["UBER_TRACE_ID"])
	}

	r = runQrun(t, helperEnv("env", "OTEL_PROPAGATORS=b3", stale), "config", "--", "true")
	if r.code != 0 {
		t.Fatalf("config: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	count := func(prefix string) int {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}
	if n := count("+ B3"); n != 1 {
		t.Errorf("config names B3 %d times, want once:\n%s", n, r.stdout)
	}
	if n := count("- TRACEPARENT"); n != 1 {
		t.Errorf("config does not show the stale TRACEPARENT removed once:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "B3=") {
		t.Errorf("config shows a B3 value:\n%s", r.stdout)
	}

	for _, format := range []string{"env", "shell"} {
		r = runQrun(t, helperEnv("env", "OTEL_PROPAGATORS=b3"), "carrier", "--format", format)
		if r.code != 0 || r.stdout != "" {
			t.Errorf("carrier --format %s with no context: exit %d, printed %q; want nothing", format, r.code, r.stdout)
		}
	}
}

// config says how trees are supervised here.
func TestConfigShowsSupervision(t *testing.T) {
	r := runQrun(t, helperEnv("env"), "config", "--", "true")
	if !strings.Contains(r.stdout, "# supervision\nmechanism: ") {
		t.Errorf("config lacks the supervision section:\n%s", r.stdout)
	}
}

// TestClosedResultStreamWithInputWaiting is `seq 1000 | otel-qrun --tasks -
// … | head -1`: the input holds far more than queue_limit tasks when the
// reader of the results goes away. Their cancelled results have nowhere to
// go; the launcher must neither wait for them to be written nor stop reading
// the input it has to drain (it used to hang there for ever).
func TestClosedResultStreamWithInputWaiting(t *testing.T) {
	c := exec.Command(qrunBin, "--tasks", "-", "--workers", "2", "--", os.Args[0])
	c.Env = helperEnv("taskworker")
	in, outR, stderr := startPipeline(t, c)
	go func() {
		// Like seq: the whole input at once, then its end.
		_, _ = in.Write([]byte(strings.Repeat("task\n", 5000)))
		in.Close()
	}()
	readLine(t, outR)
	outR.Close() // head -1 exits
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("exit: %v, want status 141; stderr:\n%s", err, stderr.String())
		}
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 141 {
			t.Fatalf("launcher ended with %v, want exit status 141; stderr:\n%s", ws, stderr.String())
		}
	case <-time.After(2 * time.Minute): // a last resort: the exit is the event
		t.Fatalf("the launcher did not exit after its output closed; stderr:\n%s", stderr.String())
	}
}
