package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// qrunBin is the otel-qrun binary built once for the end-to-end tests.
var qrunBin string

// exampleBin is the directory of qrunBin, where the Go example workers
// (goworker, goworker-tasks) were built with it.
var exampleBin string

func TestMain(m *testing.M) {
	if code, ok := workertest.Run(); ok {
		os.Exit(code)
	}
	flag.Parse()
	waitBoundParallelism()
	os.Exit(buildAndRun(m))
}

// waitBoundParallelism raises go test's -parallel (GOMAXPROCS by default)
// to 4×GOMAXPROCS unless it was given: this package's tests spend their
// time waiting on the processes they start (the binary, workers, shells),
// not computing, so on a 2-core machine two at a time leaves the cores
// idle while the suite takes minutes.
func waitBoundParallelism() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "otel-qrun-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// One go build for every binary the tests run: the packages they share
	// are compiled once, and no test waits for a build of its own.
	qrunBin = filepath.Join(dir, "otel-qrun")
	exampleBin = dir
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "..", "../examples/goworker", "../examples/goworker-tasks")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	redistest.StopShared()
	if cToolsDir != "" {
		os.RemoveAll(cToolsDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// quietTelemetry keeps the launcher's own SDK from exporting anywhere.
var quietTelemetry = []string{"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none"}

// processRun is what one run of the binary produced (not a task result).
type processRun struct {
	stdout, stderr string
	code           int
}

// runQrun runs the built binary to completion with env and args.
func runQrun(t *testing.T, env []string, args ...string) processRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, qrunBin, args...)
	c.Env = env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run otel-qrun: %v", err)
	}
	return processRun{out.String(), errb.String(), code}
}

// records parses the helper records in a worker's stdout.
func records(t *testing.T, stdout string) []workertest.Record {
	t.Helper()
	var out []workertest.Record
	sc := bufio.NewScanner(bytes.NewBufferString(stdout))
	for sc.Scan() {
		var r workertest.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout holds a line that is not a worker record: %q", sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// process is the binary running in the background with its stdout piped.
type process struct {
	cmd *exec.Cmd
	sc  *bufio.Scanner
	err bytes.Buffer
}

func startQrun(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(qrunBin, args...)}
	p.cmd.Env = env
	p.cmd.Stderr = &p.err
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.sc = bufio.NewScanner(out)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// next reads the next worker record.
func (p *process) next(t *testing.T) workertest.Record {
	t.Helper()
	got := make(chan workertest.Record, 1)
	go func() {
		var r workertest.Record
		for p.sc.Scan() {
			if json.Unmarshal(p.sc.Bytes(), &r) == nil {
				break
			}
		}
		got <- r
	}()
	select {
	case r := <-got:
		if r.PID == 0 {
			t.Fatalf("otel-qrun closed its stdout; stderr:\n%s", p.err.String())
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("no worker record within 20s; stderr:\n%s", p.err.String())
	}
	return workertest.Record{}
}

// wait returns the exit status of the binary.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("otel-qrun did not exit within 30s; stderr:\n%s", p.err.String())
	}
	return -1
}
