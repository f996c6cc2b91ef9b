package doctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// fakeScript is the stand-in for programs that examples run but this
// machine may not have.
const fakeScript = `#!/bin/sh
# A stand-in written by otel-qrun's internal/doctest: it records its
# argv and the environment otel-qrun gave it, then behaves as the simplest
# worker of the mode it was started in.
name=${0##*/}
{
	printf 'argv:'
	printf ' %s' "$0" "$@"
	printf '\n'
	env | grep -E '^(QRUN_|TRACEPARENT=|TRACESTATE=|BAGGAGE=|OTEL_RESOURCE_ATTRIBUTES=|OTEL_EXPORTER_PROMETHEUS_PORT=|Q_CLUSTER)' | sort
} >"${DOCS_CALLS:?}/$name.$$"
case $name in
opentelemetry-instrument)
	exec "$@"
	;;
otel-cli)
	while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
	[ $# -gt 0 ] && shift
	[ $# -gt 0 ] && exec "$@"
	exit 0
	;;
esac
if [ -n "${QRUN_RESULT_FD:-}" ]; then
	# A persistent task worker: the task lines start with {"id":"...".
	while IFS= read -r line; do
		id=${line#'{"id":"'}
		id=${id%%'"'*}
		printf '{"id":"%s","ok":true}\n' "$id" >&"$QRUN_RESULT_FD"
	done
elif [ -n "${QRUN_TASK_ID:-}" ]; then
	cat >/dev/null # a per-task process: the payload
fi
exit 0
`

// ExampleTimeout bounds one example, including its launcher fixture.
const ExampleTimeout = 60 * time.Second

// Config is what a Sandbox needs from its caller.
type Config struct {
	// Qrun is the otel-qrun binary the examples run.
	Qrun string
	// Built is the directory of the Go example workers built from the
	// repository (goworker, goworker-tasks), for the go stand-in.
	Built string
	// Examples is the repository's examples/ directory.
	Examples string
	// Files are written into every example's directory.
	Files []File
	// Env is added to the examples' environment last (the OTLP receiver's
	// variables).
	Env []string
}

// Sandbox is what every example runs with: a directory of stand-ins first
// in PATH, and the examples' environment. Create it with NewSandbox; Run
// may be called from parallel tests.
type Sandbox struct {
	qrun     string
	bin      string   // first in PATH
	env      []string // the examples' environment
	files    []File
	examples string // the repository's examples/
}

// NewSandbox writes the stand-ins into a temporary directory of t.
func NewSandbox(t *testing.T, cfg Config) *Sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &Sandbox{qrun: cfg.Qrun, bin: filepath.Join(dir, "bin"), files: cfg.Files, examples: cfg.Examples}
	built := cfg.Built
	for _, d := range []string{s.bin, filepath.Join(dir, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	fake := filepath.Join(s.bin, "fake")
	writeExecutable(t, fake, fakeScript)
	for _, n := range fakeCommands {
		if err := os.Symlink(fake, filepath.Join(s.bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(s.qrun, filepath.Join(s.bin, "otel-qrun")); err != nil {
		t.Fatal(err)
	}
	writeExecutable(t, filepath.Join(s.bin, "go"), fmt.Sprintf(`#!/bin/sh
# The go command of documentation examples, written by internal/doctest:
# "go run ." is otel-qrun, and the example workers were built from the same
# source. Anything else is not something an example may run.
built=%s
case "$1 $2 $3" in
"run . "*) shift 2; exec otel-qrun "$@" ;;
"run ./examples/goworker "*|"run ./examples/goworker-tasks "*)
	pkg=${2##*/}; shift 2; exec "$built/$pkg" "$@" ;;
"build -o "*)
	case "$4" in
	./examples/goworker|./examples/goworker-tasks)
		[ $# -eq 4 ] || { echo "go build: one package, no flags after it" >&2; exit 97; }
		mkdir -p "$(dirname "$3")" && exec cp "$built/${4##*/}" "$3" ;;
	esac ;;
esac
echo "the documentation test's go stand-in cannot run: go $*" >&2
exit 97
`, shellQuote(built)))

	s.env = append([]string{
		"PATH=" + s.bin + string(filepath.ListSeparator) + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"TMPDIR=" + os.TempDir(),
		"LANG=C",
		// Race-enabled binaries otherwise sleep a second at exit.
		"GORACE=atexit_sleep_ms=0",
		"PYTHONDONTWRITEBYTECODE=1",
		"OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1",
		"OTEL_EXPORTER_PROMETHEUS_PORT=0",
	}, cfg.Env...)
	return s
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// workDir prepares the directory of one example.
func (s *Sandbox) workDir(t *testing.T) (work, calls string) {
	t.Helper()
	dir := t.TempDir()
	work, calls = filepath.Join(dir, "work"), filepath.Join(dir, "calls")
	for _, d := range []string{work, calls} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range standIns {
		if err := os.Symlink(filepath.Join(s.bin, "fake"), filepath.Join(work, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(s.examples, filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	for _, f := range s.files {
		if err := os.WriteFile(filepath.Join(work, f.Name), []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return work, calls
}

// exampleRun is what running one example produced.
type exampleRun struct {
	stdout, stderr string
	code           int
	launcher       string // the fixture's output, with launcher examples
}

// Run runs ex in a fresh directory and returns an error that says what went
// wrong, with the output, when it did not do what ex expects.
func (s *Sandbox) Run(t *testing.T, ex Example) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ExampleTimeout)
	defer cancel()
	work, calls := s.workDir(t)
	env := append(slices.Clone(s.env), "DOCS_CALLS="+calls)

	var fixture *launcherFixture
	if ex.WithLauncher {
		var err error
		if fixture, err = startLauncherFixture(ctx, s.qrun, work, env); err != nil {
			return err
		}
		defer fixture.kill()
		env = append(env, "pid="+strconv.Itoa(fixture.cmd.Process.Pid))
	}

	c := exec.Command("sh", "-e", "-x", "-c", ex.Code)
	c.Dir, c.Env = work, env
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = 10 * time.Second // a process left in the background holding stdout
	code, timedOut, err := runGroup(ctx, c)
	if err != nil {
		return err
	}
	r := exampleRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
	var problems []string
	if timedOut {
		problems = append(problems, fmt.Sprintf("did not finish within %s (killed)", ExampleTimeout))
	} else if code != ex.Exit {
		problems = append(problems, fmt.Sprintf("exit status %d, want %d", code, ex.Exit))
	}
	if ex.Exit == 0 {
		for _, l := range launcherErrors(r.stderr) {
			problems = append(problems, "otel-qrun reported an error: "+l)
		}
	}
	if fixture != nil {
		out, err := fixture.stop(ctx)
		r.launcher = out
		if err != nil {
			problems = append(problems, "the running otel-qrun ($pid): "+err.Error())
		}
		for _, l := range launcherErrors(out) {
			problems = append(problems, "the running otel-qrun ($pid) reported an error: "+l)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s\n--- example:\n%s\n--- stdout:\n%s--- stderr (sh -x):\n%s%s--- programs the example ran (stand-ins):\n%s",
		strings.Join(problems, "\n"), ex.Code, r.stdout, r.stderr, fixtureOutput(r.launcher), describeCalls(calls))
}

func fixtureOutput(s string) string {
	if s == "" {
		return ""
	}
	return "--- the running otel-qrun ($pid):\n" + s
}

// runGroup runs c, which must have Setpgid, until it exits or ctx is done,
// when its whole process group is killed.
func runGroup(ctx context.Context, c *exec.Cmd) (code int, timedOut bool, err error) {
	if err := c.Start(); err != nil {
		return 0, false, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		timedOut = true
		err = <-done
	}
	// Whatever the example left in its group does not outlive it.
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), timedOut, nil
	case err != nil:
		return 0, timedOut, err
	}
	return 0, timedOut, nil
}

// launcherErrors returns the lines of stderr in which otel-qrun reported an
// error: its messages other than warnings and (fail-open) export failures,
// and error-level log records.
func launcherErrors(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		switch {
		case strings.HasPrefix(l, "otel-qrun: warning:"), strings.Contains(l, " export failed: "):
		case strings.HasPrefix(l, "otel-qrun: "):
			out = append(out, l)
		case strings.Contains(l, "level=ERROR") && strings.Contains(l, "component=otel-qrun"):
			out = append(out, l)
		}
	}
	return out
}

// describeCalls lists what the stand-ins recorded.
func describeCalls(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return "(none)\n"
	}
	var b strings.Builder
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s:\n%s", e.Name(), data)
	}
	return b.String()
}

// launcherFixture is an otel-qrun with two long-running workers, for
// examples that signal a running launcher.
type launcherFixture struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *workertest.LockedBuffer
	waited chan error
	// finished is set once the launcher was waited for.
	finished bool
}

func startLauncherFixture(ctx context.Context, qrun, dir string, env []string) (*launcherFixture, error) {
	f := &launcherFixture{lines: make(chan string, 64), stderr: &workertest.LockedBuffer{}, waited: make(chan error, 1)}
	f.cmd = exec.Command(qrun, "--workers", "2", "--stop-grace", "5", "--verbose", "--",
		"sh", "-c", `echo "up $QRUN_WORKER_INDEX"; exec sleep 300`)
	f.cmd.Dir, f.cmd.Env, f.cmd.Stderr = dir, env, f.stderr
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		close(f.lines)
		f.waited <- f.cmd.Wait()
	}()
	for up := 0; up < 2; {
		select {
		case l, ok := <-f.lines:
			if !ok {
				return nil, fmt.Errorf("the otel-qrun for $pid exited before its workers started; stderr:\n%s", f.stderr.String())
			}
			if strings.HasPrefix(l, "up ") {
				up++
			}
		case <-ctx.Done():
			f.kill()
			return nil, fmt.Errorf("the workers of the otel-qrun for $pid did not start; stderr:\n%s", f.stderr.String())
		}
	}
	return f, nil
}

// stop stops the launcher with SIGTERM and checks that it exits 0: it is
// still running and handled the example's signals.
func (f *launcherFixture) stop(ctx context.Context) (string, error) {
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return f.stderr.String(), fmt.Errorf("it is not running: %w", err)
	}
	var lines []string
	for {
		select {
		case l, ok := <-f.lines:
			if ok {
				lines = append(lines, l)
				continue
			}
			err := <-f.waited
			f.finished = true
			out := "stdout: " + strings.Join(lines, "; ") + "\n" + f.stderr.String()
			if err != nil {
				return out, fmt.Errorf("after SIGTERM: %w, want exit status 0", err)
			}
			return out, nil
		case <-ctx.Done():
			f.kill()
			return f.stderr.String(), errors.New("did not exit after SIGTERM (is it stopped?)")
		}
	}
}

// kill ends the fixture if stop did not; it is a no-op afterwards.
func (f *launcherFixture) kill() {
	if f.finished {
		return
	}
	_ = f.cmd.Process.Kill()
	for range f.lines {
	}
	<-f.waited
	f.finished = true
}

// RunExamples runs every example in a parallel subtest of t named by its
// Where: the static check of its otel-qrun command lines with check (see
// CheckCommandLines), then, unless it is marked norun or names a program of
// realTools that this machine lacks (then it is skipped and counted as not
// run), Sandbox.Run. It returns how many examples ran and how many did not,
// once all subtests have finished.
func RunExamples(t *testing.T, s *Sandbox, examples []Example, check func(args []string) error) (ran, notRun int) {
	t.Helper()
	var nRan, nNotRun atomic.Int32
	t.Run("example", func(t *testing.T) {
		for _, ex := range examples {
			t.Run(ex.Where, func(t *testing.T) {
				t.Parallel()
				if err := CheckCommandLines(ex.Code, check); err != nil {
					t.Errorf("%s: %v\n--- example:\n%s", ex.Where, err, ex.Code)
				}
				if ex.NoRun != "" {
					nNotRun.Add(1)
					t.Skipf("not run: %s", ex.NoRun)
				}
				if tool := missingTool(ex.Code); tool != "" {
					nNotRun.Add(1)
					t.Skipf("not run: needs %s, which is not installed", tool)
				}
				nRan.Add(1)
				if err := s.Run(t, ex); err != nil {
					t.Errorf("%s: %v", ex.Where, err)
				}
			})
		}
	})
	return int(nRan.Load()), int(nNotRun.Load())
}

// missingTool returns the first program of realTools that code names and
// this machine lacks, or "".
func missingTool(code string) string {
	for _, tool := range realTools {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(tool) + `\b`).MatchString(code) {
			if _, err := exec.LookPath(tool); err != nil {
				return tool
			}
		}
	}
	return ""
}
