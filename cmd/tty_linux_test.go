package cmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/testenv"
)

// runQrunOnTerminal runs otel-qrun with its stderr on a terminal (stdin
// /dev/null, stdout a pipe) and returns stdout, what appeared on the
// terminal, and the exit status.
func runQrunOnTerminal(t *testing.T, env []string, args ...string) (stdout, terminal string, code int) {
	t.Helper()
	master, slave := testenv.OpenPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, qrunBin, args...)
	c.Env = env
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, slave
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it; reading ends with EIO when it and its workers exit
	tty, err := io.ReadAll(master)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Errorf("read the terminal: %v", err)
	}
	err = c.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), strings.ReplaceAll(string(tty), "\r\n", "\n"), code
}

// The "Try it" run on a terminal: the workers' output, then one readable
// line per span and a metrics summary, no JSON.
func TestConsoleOnTerminalIsReadable(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console", "OTEL_SERVICE_NAME=", "OTEL_QRUN_CONSOLE_FORMAT=")
	stdout, tty, code := runQrunOnTerminal(t, env, "--workers", "2", "--", "sh", "-c", `echo "$QRUN_WORKER_INDEX $TRACEPARENT"`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, tty)
	}
	if strings.Contains("\n"+tty, "\n{") {
		t.Errorf("JSON on the terminal:\n%s", tty)
	}
	spans, metrics := 0, 0
	for l := range strings.Lines(tty) {
		switch {
		case strings.HasPrefix(l, `span "run sh" internal `):
			spans++
			for _, want := range []string{" trace=", " span=", " parent=none ", " qrun.worker.index=", " process.pid="} {
				if !strings.Contains(l, want) {
					t.Errorf("span line lacks %q: %s", want, l)
				}
			}
		case strings.HasPrefix(l, "metric "):
			metrics++
		default:
			t.Errorf("unexpected line on the terminal: %q", l)
		}
	}
	if spans != 2 || metrics == 0 {
		t.Errorf("%d span lines and %d metric lines, want 2 and some:\n%s", spans, metrics, tty)
	}
	if !strings.Contains(tty, "metric qrun.worker.starts: 2 {reason=initial}") {
		t.Errorf("no summary of the worker starts:\n%s", tty)
	}
	if n := strings.Count(stdout, "\n"); n != 2 {
		t.Errorf("stdout:\n%s\nwant the two workers' lines", stdout)
	}
}

// otel-qrun carrier with no context prints nothing; on a terminal, stderr
// says so.
func TestCarrierWithoutContextSaysSoOnATerminal(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=" + os.Getenv("PATH"), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none"}
	stdout, tty, code := runQrunOnTerminal(t, env, "carrier")
	if code != 0 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 0 and nothing", code, stdout)
	}
	if want := "otel-qrun: carrier: no trace context in the environment (no TRACEPARENT): the carrier is empty; --span NAME starts a new trace\n"; tty != want {
		t.Errorf("terminal got %q, want %q", tty, want)
	}
	// Redirected, stderr stays empty.
	res := runQrun(t, env, "carrier")
	if res.code != 0 || res.stdout != "" || res.stderr != "" {
		t.Errorf("redirected: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	// With a context, nothing is said.
	env = append(env, "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if stdout, tty, _ := runQrunOnTerminal(t, env, "carrier"); tty != "" || !strings.Contains(stdout, "0af7651916cd43dd8448eb211c80319c") {
		t.Errorf("with a context: stdout %q, terminal %q", stdout, tty)
	}
}
