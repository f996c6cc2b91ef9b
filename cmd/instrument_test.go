package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// These tests check the exact command and environment otel-qrun executes,
// with fake interpreters and wrappers that hand over to the env helper of
// this test binary (which reports its argv and environment as a record).
// The Python bootstrap runs against the real SDK in python_test.go.

// writeScript writes an executable shell script, creating its directory.
func writeScript(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakePython writes dir/python3, which runs the env helper as "python3
// ARGS...", so the record's Args are [its own path, ARGS...]; "python3 -c
// CODE" (otel-qrun's check of the distro) runs the real /usr/bin/python3.
func fakePython(t *testing.T, dir string) string {
	t.Helper()
	return writeScript(t, filepath.Join(dir, "python3"),
		`[ "$1" = -c ] && exec /usr/bin/python3 "$@"`+"\n"+`exec "`+os.Args[0]+`" "$0" "$@"`+"\n")
}

// fakeWrapper writes dir/opentelemetry-instrument, which, like the real
// one, executes its arguments; it adds an x to QRUN_TEST_WRAPS on every
// pass and records its own argv in QRUN_TEST_WRAPPER_ARGV.
func fakeWrapper(t *testing.T, dir string) string {
	t.Helper()
	return writeScript(t, filepath.Join(dir, "opentelemetry-instrument"),
		`export QRUN_TEST_WRAPS="${QRUN_TEST_WRAPS}x" QRUN_TEST_WRAPPER_ARGV="$0 $*"`+"\n"+`exec "$@"`+"\n")
}

// configKey returns the value and source that otel-qrun config shows for key.
func configKey(stdout, key string) (value, source string) {
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == key {
			return f[1], f[2]
		}
	}
	return "", ""
}

func sortedRecords(t *testing.T, stdout string) []workertest.Record {
	t.Helper()
	recs := records(t, stdout)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Index < recs[j].Index })
	return recs
}

func TestInstrumentPythonThroughTheBinary(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("/usr/bin/python3 is not installed")
	}
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv", "bin")
	python := fakePython(t, venv)
	wrapper := fakeWrapper(t, venv)
	distro := filepath.Join(dir, "site")
	pkg := filepath.Join(distro, "opentelemetry", "instrumentation", "auto_instrumentation")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "__init__.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + venv + ":/usr/bin:/bin"
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("virtualenv", func(t *testing.T) {
		env := helperEnv("env", path, "PYTHONPATH="+distro+":/app/lib")
		res := runQrun(t, env, "--instrument", "auto", "--workers", "2", "--shutdown-timeout", "2s", "--", python, "app.py", "--flag")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		recs := sortedRecords(t, res.stdout)
		if len(recs) != 2 {
			t.Fatalf("%d records, want 2", len(recs))
		}
		ids := map[string]bool{}
		for i, r := range recs {
			if !slices.Equal(r.Args, []string{python, "app.py", "--flag"}) {
				t.Errorf("worker %d: python got %q", i, r.Args)
			}
			e := r.Env
			entries := filepath.SplitList(e["PYTHONPATH"])
			if len(entries) != 4 || !strings.HasPrefix(filepath.Base(entries[0]), "otel-qrun-python-") ||
				entries[1] != cwd || entries[2] != distro || entries[3] != "/app/lib" {
				t.Errorf("worker %d: PYTHONPATH=%q; want the bootstrap, the working directory, then the user's", i, e["PYTHONPATH"])
			}
			if e["QRUN_SHUTDOWN_TIMEOUT"] != "2" || e["QRUN_TEST_WRAPS"] != "" {
				t.Errorf("worker %d: QRUN_SHUTDOWN_TIMEOUT=%q, wrapped %q", i, e["QRUN_SHUTDOWN_TIMEOUT"], e["QRUN_TEST_WRAPS"])
			}
			if e["QRUN_WORKER_INDEX"] != r.Index || !strings.Contains(e["OTEL_RESOURCE_ATTRIBUTES"], "qrun.worker.index="+r.Index) {
				t.Errorf("worker %d: identity %q %q", i, e["QRUN_WORKER_INDEX"], e["OTEL_RESOURCE_ATTRIBUTES"])
			}
			ids[e["OTEL_RESOURCE_ATTRIBUTES"]] = true
			if _, err := os.Stat(entries[0]); !os.IsNotExist(err) {
				t.Errorf("the bootstrap's directory %s is still there after otel-qrun exited: %v", entries[0], err)
			}
		}
		if len(ids) != 2 {
			t.Errorf("the workers share OTEL_RESOURCE_ATTRIBUTES: %v", ids)
		}
	})
	t.Run("missing", func(t *testing.T) {
		env := helperEnv("env", path)
		res := runQrun(t, env, "--instrument", "python", "--", python, "app.py")
		if res.code != 2 || res.stdout != "" {
			t.Errorf("exit %d, stdout %q; want 2 and no worker", res.code, res.stdout)
		}
		for _, want := range []string{"--instrument python", "cannot import opentelemetry.instrumentation.auto_instrumentation",
			"pip install opentelemetry-distro opentelemetry-exporter-otlp"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("stderr %q lacks %q", res.stderr, want)
			}
		}
	})
	t.Run("never twice", func(t *testing.T) {
		outer := filepath.Join(os.TempDir(), "otel-qrun-python-outer")
		for name, tt := range map[string]struct {
			env   []string
			argv  []string
			wraps string
		}{
			"command is the wrapper": {nil, []string{wrapper, python, "app.py"}, "x"},
			"outer otel-qrun":        {[]string{"PYTHONPATH=" + outer}, []string{python, "app.py"}, ""},
		} {
			t.Run(name, func(t *testing.T) {
				env := helperEnv("env", append([]string{path}, tt.env...)...)
				res := runQrun(t, env, append([]string{"--instrument", "python", "--"}, tt.argv...)...)
				if res.code != 0 {
					t.Fatalf("exit %d: %s", res.code, res.stderr)
				}
				r := records(t, res.stdout)[0]
				if r.Env["QRUN_TEST_WRAPS"] != tt.wraps || strings.Contains(r.Env["PYTHONPATH"], "otel-qrun-python-") != (tt.env != nil) {
					t.Errorf("wrapped %q, PYTHONPATH %q; want %q and no bootstrap added", r.Env["QRUN_TEST_WRAPS"], r.Env["PYTHONPATH"], tt.wraps)
				}
			})
		}
	})
	t.Run("config", func(t *testing.T) {
		env := helperEnv("env", path, "OTEL_SERVICE_NAME=svc", "PYTHONPATH="+distro)
		res := runQrun(t, env, "config", "--instrument", "auto", "--workers", "2", "--", python, "app.py")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		if v, src := configKey(res.stdout, "instrument"); v != "auto" || src != "flag" {
			t.Errorf("config shows instrument %q from %q", v, src)
		}
		placeholder := filepath.Join(os.TempDir(), "otel-qrun-python-XXXXXX")
		for _, want := range []string{
			"\n# bootstrap (instrument=auto)\nauto: python3 is a Python executable\n",
			"python: " + python + " imports opentelemetry-instrumentation ",
			"python: PYTHONPATH = " + placeholder + ":" + cwd + ":…, whose sitecustomize runs",
			"python: long-lived workers do not continue TRACEPARENT",
			"+ PYTHONPATH=" + placeholder + ":" + cwd + ":" + distro + "\n",
			"+ QRUN_SHUTDOWN_TIMEOUT=3\n",
			"# worker 1 environment",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("config output lacks %q:\n%s", want, res.stdout)
			}
		}
		res = runQrun(t, helperEnv("env", path), "config", "--instrument", "python", "--", python)
		if res.code != 0 || !strings.Contains(res.stdout, "error: --instrument python: ") || !strings.Contains(res.stdout, "pip install") {
			t.Errorf("config with the distro missing: exit %d\n%s", res.code, res.stdout)
		}
	})
}

func TestInstrumentJavaThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	java := writeScript(t, filepath.Join(dir, "jdk", "bin", "java"), `exec "`+os.Args[0]+`" "$0" "$@"`+"\n")
	agent := filepath.Join(dir, "otel", "opentelemetry-javaagent.jar")
	if err := os.MkdirAll(filepath.Dir(agent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(agent, []byte("PK"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"appended", []string{"JAVA_TOOL_OPTIONS=-Xmx64m"}, []string{"--instrument", "auto", "--javaagent", agent},
			"-Xmx64m -javaagent:" + agent},
		{"from Q_CLUSTER", []string{`Q_CLUSTER={"instrument": "java", "javaagent": "` + agent + `"}`}, nil,
			"-javaagent:" + agent},
		{"already there", []string{"JAVA_TOOL_OPTIONS=-javaagent:" + agent + " -Xmx64m"}, []string{"--instrument", "java", "--javaagent", agent},
			"-javaagent:" + agent + " -Xmx64m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQrun(t, helperEnv("env", tt.env...), append(tt.args, "--workers", "2", "--", java, "-jar", "app.jar")...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			recs := records(t, res.stdout)
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			for _, r := range recs {
				if got := r.Env["JAVA_TOOL_OPTIONS"]; got != tt.want {
					t.Errorf("worker %s: JAVA_TOOL_OPTIONS=%q, want %q", r.Index, got, tt.want)
				}
				if !slices.Equal(r.Args, []string{java, "-jar", "app.jar"}) {
					t.Errorf("worker %s: argv %q", r.Index, r.Args)
				}
			}
		})
	}

	for _, tt := range []struct{ name, agent, want string }{
		{"no agent", "", "no Java agent"},
		{"missing agent", filepath.Join(dir, "missing.jar"), filepath.Join(dir, "missing.jar") + ": no such file"},
		{"agent is a directory", dir, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runQrun(t, helperEnv("env"), "--instrument", "java", "--javaagent="+tt.agent, "--", java, "-jar", "app.jar")
			if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, "--instrument java: ") || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", res.code, res.stdout, res.stderr, tt.want)
			}
		})
	}

	t.Run("config", func(t *testing.T) {
		res := runQrun(t, helperEnv("env", "JAVA_TOOL_OPTIONS=-Xss1m", "OTEL_SERVICE_NAME=svc"),
			"config", "--instrument", "java", "--javaagent", agent, "--workers", "2", "--", java, "-jar", "app.jar")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		if n := strings.Count(res.stdout, "+ JAVA_TOOL_OPTIONS=-Xss1m -javaagent:"+agent+"\n"); n != 2 {
			t.Errorf("JAVA_TOOL_OPTIONS shown for %d workers, want 2:\n%s", n, res.stdout)
		}
		if v, src := configKey(res.stdout, "javaagent"); v != agent || src != "flag" || strings.Contains(res.stdout, "exec: ") {
			t.Errorf("config output:\n%s", res.stdout)
		}
	})
}

func TestInstrumentUsageErrors(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--instrument", "ruby", "true"}, nil, `invalid value "ruby" for instrument (from --instrument): must be one of auto, python, node, java, none`},
		{[]string{"true"}, []string{"Q_CLUSTER_INSTRUMENT=Python"}, `invalid value "Python" for instrument (from Q_CLUSTER_INSTRUMENT)`},
		{[]string{"--instrument", "python", "/nonexistent/python3"}, nil, "not found"},
	} {
		res := runQrun(t, append(env, tt.env...), tt.args...)
		want := 2
		if tt.want == "not found" {
			want = 127 // the command itself is missing: the usual status
		}
		if res.code != want || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, res.code, res.stderr, want, tt.want)
		}
	}
	// With none (the default), nothing is looked for or changed.
	res := runQrun(t, helperEnv("env", "PATH=/nonexistent"), os.Args[0])
	if res.code != 0 || records(t, res.stdout)[0].Env["NODE_OPTIONS"] != "" {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
}
