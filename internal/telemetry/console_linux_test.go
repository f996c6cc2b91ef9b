package telemetry

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/testenv"
)

// runOnTerminal runs the console helper with its stderr on a terminal and
// returns what it wrote there.
func runOnTerminal(t *testing.T, env ...string) string {
	t.Helper()
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=console")
	for _, kv := range cmd.Env {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			cmd.Env = append(cmd.Env, k+"=")
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = slave
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it; reads end with EIO when it exits
	out, err := io.ReadAll(master)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Errorf("read the terminal: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout got %q", stdout.String())
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

// TestConsoleOnTerminalIsText: on a terminal the console exporters write one
// readable line per span and a metrics summary, no JSON; forced json stays
// JSON there.
func TestConsoleOnTerminalIsText(t *testing.T) {
	got := runOnTerminal(t, "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console")
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	slices.Sort(lines) // the signals are flushed in parallel: "metric" < "span"
	if len(lines) != 2 || lines[0] != "metric helper.count: 3" ||
		!strings.HasPrefix(lines[1], `span "helper-span" internal `) || !strings.Contains(lines[1], " parent=none status=unset") {
		t.Errorf("terminal got:\n%s\nwant a span line and a metric line", got)
	}

	got = runOnTerminal(t, "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=none", EnvConsoleFormat+"=json")
	if !strings.HasPrefix(got, "{") || !strings.Contains(got, `"Name":"helper-span"`) {
		t.Errorf("forced json on a terminal got:\n%s", got)
	}
}
