package launcher_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// testTag returns a value unique to the test, put in the workers'
// environment: every process of their trees carries it.
func testTag(t *testing.T) string {
	return fmt.Sprintf("QRUN_TEST_TAG=%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
}

// treeReady reads the records of the "tree" helper: the double-forked
// orphan and the ready record with the two other children. It returns the
// worker and its three descendants.
func treeReady(t *testing.T, h *harness) []int {
	t.Helper()
	var pids []int
	for {
		r := h.next()
		switch r.Event {
		case "orphan":
			pids = append(pids, r.Child)
		case "ready":
			pids = append(pids, r.PID)
			for _, a := range r.Args {
				pid, _ := strconv.Atoi(a)
				pids = append(pids, pid)
			}
			if len(pids) != 4 {
				t.Fatalf("tree helper reported %v", pids)
			}
			return pids
		}
	}
}

// A graceful stop ends the whole tree of a worker: a child in its group,
// one that called setsid and one double-forked into a group of its own.
// Nothing is left once Run returns, in well under stop_grace (the children
// die of SIGTERM), and nothing is reported as having ignored the signal.
func TestGracefulStopEndsTheWholeTree(t *testing.T) {
	for _, child := range []string{"sleeper", "stubborn"} {
		t.Run(child, func(t *testing.T) {
			tag := testTag(t)
			grace := time.Minute
			if child == "stubborn" {
				grace = time.Second
			}
			h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("tree", workertest.Params{Child: child}, tag)),
				launcher.WithStopGrace(grace))
			pids := treeReady(t, h)
			if left := workertest.Tagged(tag); len(left) != 4 {
				t.Fatalf("processes of the tree: %v, want the 4 of %v", left, pids)
			}
			start := time.Now()
			h.sigs <- syscall.SIGTERM
			if st := h.wait(); st != 0 {
				t.Errorf("status %d after a graceful stop, want 0", st)
			}
			took := time.Since(start)
			if left := workertest.Tagged(tag); len(left) != 0 {
				t.Errorf("processes left after the stop: %v (tree %v)", left, pids)
			}
			switch child {
			case "sleeper":
				if took > grace/2 {
					t.Errorf("stop took %s with stop_grace %s: a member waited for the kill", took, grace)
				}
				for _, m := range h.logsSoFar() {
					if m["level"] == "WARN" {
						t.Errorf("warning during a clean stop: %v", m)
					}
				}
			case "stubborn":
				// The children ignore SIGTERM: they are killed after the grace.
				if took < grace {
					t.Errorf("stop took %s: the stubborn children were not given stop_grace %s", took, grace)
				}
			}
		})
	}
}

// A worker whose children are zombies that nothing reaps (they are
// adopted by a process that never reaps, as under a PID 1 that does not)
// stops at once: zombies are not members that could act on a signal, so the
// stop neither waits stop_grace nor warns that anything ignored the stop
// signal.
func TestStopIgnoresZombies(t *testing.T) {
	grace := time.Minute
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "noreap", Adopt: true, Grace: grace})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !strings.Contains(readUntil(t, out, `"event":"ready"`), "ready") {
		t.Fatalf("the worker did not start; stderr:\n%s", stderr.String())
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("launcher: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatal("launcher did not exit")
	}
	if took := time.Since(start); took > grace/2 {
		t.Errorf("stop took %s with stop_grace %s: zombies were waited for", took, grace)
	}
	if strings.Contains(stderr.String(), "ignored the stop signal") {
		t.Errorf("false warning:\n%s", stderr.String())
	}
}

// readUntil reads lines from r until one contains want, and returns it.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				got <- sc.Text()
				go io.Copy(io.Discard, r)
				return
			}
		}
		got <- ""
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("no line with %q within 30s", want)
	}
	return ""
}

// adoptOrphans makes this process a child subreaper.
func adoptOrphans() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// logsSoFar returns the log records that arrived so far.
func (h *harness) logsSoFar() []map[string]string {
	var out []map[string]string
	for {
		select {
		case m := <-h.logs:
			out = append(out, m)
		default:
			return out
		}
	}
}
