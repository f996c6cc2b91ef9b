// Package shworker holds the tests of the shell example worker, task.sh.
package shworker

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// shells returns the POSIX shells to run task.sh with: sh, and dash and
// bash when installed.
func shells(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"sh", "dash", "bash"} {
		if p, err := exec.LookPath(name); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell in PATH")
	}
	return out
}

func TestShellTaskWorker(t *testing.T) {
	tests := []struct {
		name, payload string
		code          int
	}{
		{"text", "hello", 0},
		{"json", `{"n":3}`, 0},
		{"empty", "", 0},
		{"text with newline", "hello world\n", 0},
		{"fail", "fail", 1},
		{"fail with newline", "fail\n", 1},
		{"not quite fail", "failure", 0},
	}
	for _, sh := range shells(t) {
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				// As otel-qrun runs a per_task worker: the payload on stdin,
				// the task's id, attempt and trace context in the environment.
				c := exec.Command(sh, "task.sh")
				c.Env = []string{"PATH=" + os.Getenv("PATH"), "QRUN_TASK_ID=task-7", "QRUN_TASK_ATTEMPT=2", "TRACEPARENT=" + traceparent}
				c.Stdin = strings.NewReader(tt.payload)
				var stdout, stderr bytes.Buffer
				c.Stdout, c.Stderr = &stdout, &stderr
				err := c.Run()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if code != tt.code {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
				}
				if log := stderr.String(); !strings.Contains(log, "task task-7 attempt 2 trace "+traceparent) {
					t.Errorf("stderr %q does not log the task's id, attempt and trace", log)
				}
				if tt.code == 0 && !strings.Contains(stdout.String(), "handled") {
					t.Errorf("stdout %q", stdout.String())
				}
			})
		}
	}
}
