package instrument

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/execpath"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// These tests run a real python3 with a stand-in distribution: a package
// opentelemetry.instrumentation.auto_instrumentation whose import is all
// the check needs. The bootstrap itself runs against the real SDK in the
// cmd package's tests.

// realPython returns /usr/bin/python3 (a real interpreter, not a shim that
// needs more of PATH), else python3 from PATH, skipping the test without one.
func realPython(t *testing.T) string {
	t.Helper()
	if execpath.Check("/usr/bin/python3") == nil {
		return "/usr/bin/python3"
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	return py
}

// fakeDistro makes a directory for PYTHONPATH that holds a stand-in of
// opentelemetry-instrumentation.
func fakeDistro(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "opentelemetry", "instrumentation", "auto_instrumentation")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "__init__.py"), []byte("def initialize():\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPythonPutsTheBootstrapFirstOnPYTHONPATH(t *testing.T) {
	python := realPython(t)
	distro := fakeDistro(t)
	work := t.TempDir()
	environ := []string{"PATH=" + os.Getenv("PATH"), "PYTHONPATH=" + distro + ":/app/lib"}
	p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{"python3", "app.py"}, Environ: environ, Dir: work,
		ShutdownTimeout: 1500 * time.Millisecond})

	env := append(slices.Clone(environ), "QRUN_WORKER_INDEX=0")
	path, argv, got := p.Apply(python, []string{"python3", "app.py"}, append(slices.Clone(env), EnvInstancePID+"=1"))
	if path != python || !slices.Equal(argv, []string{"python3", "app.py"}) {
		t.Errorf("exec %q %q, want the command unchanged", path, argv)
	}
	entries := filepath.SplitList(getenv(got, "PYTHONPATH"))
	if len(entries) != 4 || !strings.HasPrefix(filepath.Base(entries[0]), pythonDirPrefix) || entries[1] != work ||
		entries[2] != distro || entries[3] != "/app/lib" {
		t.Fatalf("PYTHONPATH %q: want the bootstrap, the working directory, then the worker's own entries", entries)
	}
	if v := getenv(got, qrun.EnvShutdownTimeout); v != "1.5" {
		t.Errorf("%s=%q, want 1.5", qrun.EnvShutdownTimeout, v)
	}
	if getenv(got, "QRUN_WORKER_INDEX") != "0" || len(got) != len(env)+1 || slices.ContainsFunc(got, func(kv string) bool { return strings.HasPrefix(kv, EnvInstancePID+"=") }) {
		t.Errorf("environment %q: want the worker's, plus %s, without an inherited %s", got, qrun.EnvShutdownTimeout, EnvInstancePID)
	}
	for _, name := range []string{"sitecustomize.py", "_otel_qrun_bootstrap.py", "otel_qrun.py"} {
		b, err := os.ReadFile(filepath.Join(entries[0], name))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := pythonFS.ReadFile("python/" + name)
		if !bytes.Equal(b, want) {
			t.Errorf("%s differs from the embedded file", name)
		}
	}
	if !bytes.Equal(PythonModule(), mustRead(t, filepath.Join(entries[0], "otel_qrun.py"))) {
		t.Error("PythonModule is not the otel_qrun.py written")
	}
	notes := strings.Join(p.Notes(), "\n")
	for _, want := range []string{python + " imports opentelemetry-instrumentation", "PYTHONPATH = " + entries[0] + ":" + work,
		"long-lived workers do not continue TRACEPARENT", qrun.EnvShutdownTimeout + "=1.5"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// The bootstrap compiles, and runs (here with no SDK) without a word.
	c := exec.Command(python, "-c", "import sys, otel_qrun; print(sys.modules['sitecustomize'].__file__)")
	c.Env = got
	out, err := c.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != filepath.Join(entries[0], "sitecustomize.py") {
		t.Errorf("python with the bootstrap: %v: %s", err, out)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entries[0]); !os.IsNotExist(err) {
		t.Errorf("Close left %s: %v", entries[0], err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPythonInterpreterOfOtherCommands(t *testing.T) {
	python := realPython(t)
	distro := fakeDistro(t)
	dir := t.TempDir()
	environ := []string{"PATH=" + filepath.Dir(python), "PYTHONPATH=" + distro}
	t.Run("console script", func(t *testing.T) {
		celery := writeExec(t, filepath.Join(dir, "bin", "celery"), "#!"+python+"\n")
		p := prepare(t, Config{Mode: Auto, Path: celery, Argv: []string{"celery", "worker"}, Environ: environ, DryRun: true})
		if p.Mode() != Python || !strings.Contains(strings.Join(p.Notes(), "\n"), python+" imports") {
			t.Errorf("mode %q, notes %q: want the interpreter of the #! line checked", p.Mode(), p.Notes())
		}
	})
	t.Run("not a Python command", func(t *testing.T) {
		sh := writeExec(t, filepath.Join(dir, "bin", "run-worker"), "#!/bin/sh\n")
		p := prepare(t, Config{Mode: Python, Path: sh, Argv: []string{"run-worker"}, Environ: environ, DryRun: true, PerTask: true})
		notes := strings.Join(p.Notes(), "\n")
		if !strings.Contains(notes, python+" imports") || !strings.Contains(notes, "in the context of TRACEPARENT") {
			t.Errorf("notes %q: want python3 from PATH checked, and the per-task context", notes)
		}
	})
}

func TestPythonDryRunWritesNothing(t *testing.T) {
	python := realPython(t)
	p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{"python3"},
		Environ: []string{"PYTHONPATH=" + fakeDistro(t)}, DryRun: true})
	_, _, env := p.Apply(python, []string{"python3"}, nil)
	first := filepath.SplitList(getenv(env, "PYTHONPATH"))[0]
	if want := filepath.Join(os.TempDir(), pythonDirPrefix+"XXXXXX"); first != want {
		t.Errorf("PYTHONPATH starts with %q, want the placeholder %q", first, want)
	}
	if p.preloadDir != "" {
		t.Errorf("a dry run wrote %s", p.preloadDir)
	}
}

func TestPythonMissingDistro(t *testing.T) {
	python := realPython(t)
	prepareErr(t, Config{Mode: Python, Path: python, Argv: []string{"python3"}, Environ: []string{"PYTHONPATH=" + t.TempDir()}},
		python+" cannot import opentelemetry.instrumentation.auto_instrumentation", "ModuleNotFoundError",
		PythonInstall, "opentelemetry-bootstrap -a install")
	dir := t.TempDir()
	prepareErr(t, Config{Mode: Python, Path: writeExec(t, filepath.Join(dir, "tool"), "#!/bin/sh\n"), Argv: []string{"tool"},
		Environ: []string{"PATH=" + dir}}, "tool is not a Python command and python3 is not on PATH")
}

func TestPythonNeverTwice(t *testing.T) {
	python := realPython(t)
	distro := fakeDistro(t)
	outer := filepath.Join(os.TempDir(), pythonDirPrefix+"123")
	tests := []struct {
		name string
		argv []string
		env  []string
		why  string
	}{
		{"command is the wrapper", []string{"opentelemetry-instrument", "python3", "app.py"}, nil, "the command is opentelemetry-instrument"},
		{"module", []string{"python3", "-m", "opentelemetry.instrumentation.auto_instrumentation", "app.py"}, nil, "runs opentelemetry.instrumentation.auto_instrumentation"},
		{"outer otel-qrun", []string{"python3", "app.py"}, []string{"PYTHONPATH=" + outer + ":/app"}, "PYTHONPATH holds otel-qrun's bootstrap " + outer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, Config{Mode: Python, Path: python, Argv: tt.argv, Environ: tt.env})
			if n := p.Notes(); len(n) != 1 || !strings.Contains(n[0], "already bootstrapped") || !strings.Contains(n[0], tt.why) {
				t.Errorf("notes %q, want already bootstrapped: %s", n, tt.why)
			}
			path, argv, env := p.Apply(python, tt.argv, tt.env)
			if path != python || !slices.Equal(argv, tt.argv) || !slices.Equal(env, tt.env) {
				t.Errorf("Apply changed a bootstrapped command: %q %q %q", path, argv, env)
			}
		})
	}
	// opentelemetry-instrument's sitecustomize on PYTHONPATH starts the
	// SDK; the bootstrap goes in front of it and chains to it.
	site := filepath.Join(distro, "opentelemetry", "instrumentation", "auto_instrumentation")
	environ := []string{"PYTHONPATH=" + distro + ":" + site}
	p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{"python3"}, Environ: environ})
	if !strings.Contains(strings.Join(p.Notes(), "\n"), "holds opentelemetry-instrument's sitecustomize: it starts the SDK") {
		t.Errorf("notes %q", p.Notes())
	}
	_, _, env := p.Apply(python, []string{"python3"}, environ)
	if entries := filepath.SplitList(getenv(env, "PYTHONPATH")); !strings.HasPrefix(filepath.Base(entries[0]), pythonDirPrefix) || entries[len(entries)-1] != site {
		t.Errorf("PYTHONPATH %q", entries)
	}
	// A worker whose environment turns out to hold an outer bootstrap is
	// left alone.
	env = []string{"PYTHONPATH=" + outer}
	if _, _, got := p.Apply(python, []string{"python3"}, env); !slices.Equal(got, env) {
		t.Errorf("Apply added a second bootstrap: %q", got)
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		min  [2]int
		want bool
	}{
		{"1.44.0", [2]int{1, 44}, true},
		{"1.43.0", [2]int{1, 44}, false},
		{"2.0.0", [2]int{1, 44}, true},
		{"1.7.0", [2]int{1, 7}, true},
		{"1.6.2", [2]int{1, 7}, false},
		{"1.45.0rc1", [2]int{1, 44}, true},
		{"1.45rc1", [2]int{1, 44}, true},
		{"0.65b0", [2]int{1, 7}, false},
		{"", [2]int{1, 7}, false},
		{"1", [2]int{1, 7}, false},
		{"x.y", [2]int{1, 7}, false},
		{"1.-3", [2]int{1, 7}, false},
	}
	for _, tt := range tests {
		if got := versionAtLeast(tt.v, tt.min); got != tt.want {
			t.Errorf("versionAtLeast(%q, %v) = %v, want %v", tt.v, tt.min, got, tt.want)
		}
	}
}

func FuzzVersionAtLeast(f *testing.F) {
	for _, s := range []string{"1.44.0", "0.65b0", "", "1", "10.2.3.4", "1.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, b := versionAtLeast(v, [2]int{1, 7}), versionAtLeast(v, [2]int{1, 44})
		if b && !a {
			t.Errorf("%q is at least 1.44 but not at least 1.7", v)
		}
	})
}
