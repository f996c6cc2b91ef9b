package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownKeysWarnOnce checks the typos of a new user: a misspelt key
// of the --config file and a misspelt Q_CLUSTER_<KEY> variable are each
// warned about once on stderr, by a run and by `otel-qrun config`, with
// the closest key, and the exit status does not change.
func TestUnknownKeysWarnOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(path, []byte("wrkers: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "Q_CLUSTER_WORKRS=3"}
	fileWarning := "otel-qrun: warning: " + path + `: unknown key "wrkers" (did you mean "workers"?)` + "\n"
	envWarning := `otel-qrun: warning: environment: unknown variable "Q_CLUSTER_WORKRS" (did you mean "Q_CLUSTER_WORKERS"?)` + "\n"
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--config", path, "--", "true"}, 0},
		{[]string{"--config", path, "--", "false"}, 1},
		{[]string{"config", "--config", path, "--", "true"}, 0},
	} {
		r := runQrun(t, env, tc.args...)
		if r.code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr %q", tc.args, r.code, tc.code, r.stderr)
		}
		for _, w := range []string{fileWarning, envWarning} {
			if n := strings.Count(r.stderr, w); n != 1 {
				t.Errorf("%q: warning %q printed %d times; stderr %q", tc.args, w, n, r.stderr)
			}
		}
		if tc.args[0] == "config" && !strings.Contains(r.stdout, "workers") {
			t.Errorf("config output %q", r.stdout)
		}
	}
}
