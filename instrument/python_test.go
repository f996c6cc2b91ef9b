package instrument

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeVenv makes a virtualenv's bin/ with python3 and, when wrapper is
// true, opentelemetry-instrument; it returns the bin directory.
func fakeVenv(t *testing.T, root string, wrapper bool) string {
	t.Helper()
	bin := filepath.Join(root, "bin")
	writeExec(t, filepath.Join(bin, "python3"), "#!/bin/sh\n")
	if wrapper {
		writeExec(t, filepath.Join(bin, PythonWrapper), "#!"+filepath.Join(bin, "python3")+"\n")
	}
	return bin
}

func TestPythonFindsTheWrapperBesideTheInterpreter(t *testing.T) {
	dir := t.TempDir()
	venv := fakeVenv(t, filepath.Join(dir, "venv"), true)
	global := fakeVenv(t, filepath.Join(dir, "usr"), true) // another opentelemetry-instrument on PATH
	python := filepath.Join(venv, "python3")
	environ := []string{"PATH=" + global, "PYTHONPATH=/app/lib:/app/vendor"}
	p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{python, "-m", "celery", "worker"}, Environ: environ})

	wrapper := filepath.Join(venv, PythonWrapper)
	env := append(slices.Clone(environ), "QRUN_WORKER_INDEX=0")
	path, argv, got := p.Apply(python, []string{python, "-m", "celery", "worker"}, env)
	if path != wrapper {
		t.Errorf("path %q, want the venv's %s", path, wrapper)
	}
	if want := []string{wrapper, python, "-m", "celery", "worker"}; !slices.Equal(argv, want) {
		t.Errorf("argv %q, want %q", argv, want)
	}
	if !slices.Equal(got, env) {
		t.Errorf("environment changed: %q; PYTHONPATH is opentelemetry-instrument's to extend", got)
	}
	if notes := p.Notes(); len(notes) != 1 || !strings.Contains(notes[0], wrapper+", found beside the command") {
		t.Errorf("notes %q", notes)
	}
}

func TestPythonConsoleScriptAndPATH(t *testing.T) {
	dir := t.TempDir()
	venv := fakeVenv(t, filepath.Join(dir, "venv"), true)
	t.Run("console script in the venv", func(t *testing.T) {
		celery := writeExec(t, filepath.Join(venv, "celery"), "#!"+filepath.Join(venv, "python3")+"\n")
		p := prepare(t, Config{Mode: Auto, Path: celery, Argv: []string{"celery", "-A", "proj", "worker"}})
		if p.Mode() != Python {
			t.Fatalf("auto: mode %q, want python", p.Mode())
		}
		path, argv, _ := p.Apply(celery, []string{"celery", "-A", "proj", "worker"}, nil)
		if want := []string{filepath.Join(venv, PythonWrapper), celery, "-A", "proj", "worker"}; path != want[0] || !slices.Equal(argv, want) {
			t.Errorf("exec %q %q, want %q", path, argv, want)
		}
	})
	t.Run("script elsewhere, interpreter in the venv", func(t *testing.T) {
		script := writeExec(t, filepath.Join(dir, "app", "run-worker"), "#!"+filepath.Join(venv, "python3")+" -u\n")
		p := prepare(t, Config{Mode: Python, Path: script, Argv: []string{script}})
		if path, _, _ := p.Apply(script, []string{script}, nil); path != filepath.Join(venv, PythonWrapper) {
			t.Errorf("path %q, want the wrapper beside the #! interpreter", path)
		}
		if n := p.Notes(); len(n) != 1 || !strings.Contains(n[0], "beside its interpreter") {
			t.Errorf("notes %q", n)
		}
	})
	t.Run("PATH", func(t *testing.T) {
		bare := fakeVenv(t, filepath.Join(dir, "system"), false)
		python := filepath.Join(bare, "python3")
		environ := []string{"PATH=" + bare + ":" + venv}
		p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{"python3", "app.py"}, Environ: environ})
		path, argv, _ := p.Apply(python, []string{"python3", "app.py"}, environ)
		if want := []string{filepath.Join(venv, PythonWrapper), python, "app.py"}; path != want[0] || !slices.Equal(argv, want) {
			t.Errorf("exec %q %q, want %q", path, argv, want)
		}
		if n := p.Notes(); len(n) != 1 || !strings.Contains(n[0], "found on PATH") {
			t.Errorf("notes %q", n)
		}
	})
	t.Run("relative PATH entry and command", func(t *testing.T) {
		bare := fakeVenv(t, filepath.Join(dir, "rel"), false)
		p := prepare(t, Config{Mode: Python, Path: "bin/python3", Argv: []string{"bin/python3"}, Dir: filepath.Dir(bare),
			Environ: []string{"PATH=../venv/bin"}})
		if path, _, _ := p.Apply("bin/python3", []string{"bin/python3"}, nil); path != filepath.Join(venv, PythonWrapper) {
			t.Errorf("path %q: want it absolute, against the workers' directory", path)
		}
	})
}

func TestPythonMissingWrapper(t *testing.T) {
	dir := t.TempDir()
	bare := fakeVenv(t, filepath.Join(dir, "venv"), false)
	// A wrapper that is not executable does not count.
	notExec := writeExec(t, filepath.Join(dir, "notexec", PythonWrapper), "")
	if err := os.Chmod(notExec, 0o644); err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(bare, "python3")
	prepareErr(t, Config{Mode: Python, Path: python, Argv: []string{python}, Environ: []string{"PATH=" + filepath.Join(dir, "notexec")}},
		"opentelemetry-instrument is not installed", "neither in "+bare+" nor on PATH",
		"pip install opentelemetry-distro opentelemetry-exporter-otlp", "opentelemetry-bootstrap -a install")
}

func TestPythonNeverTwice(t *testing.T) {
	dir := t.TempDir()
	venv := fakeVenv(t, filepath.Join(dir, "venv"), true)
	python := filepath.Join(venv, "python3")
	wrapper := filepath.Join(venv, PythonWrapper)
	site := "/venv/lib/python3.12/site-packages/opentelemetry/instrumentation/auto_instrumentation"
	tests := []struct {
		name string
		path string
		argv []string
		env  []string
		why  string
	}{
		{"command is the wrapper", wrapper, []string{"opentelemetry-instrument", "python3", "app.py"}, nil, "the command is opentelemetry-instrument"},
		{"module", python, []string{"python3", "-m", "opentelemetry.instrumentation.auto_instrumentation", "app.py"}, nil, "runs opentelemetry.instrumentation.auto_instrumentation"},
		{"PYTHONPATH", python, []string{"python3", "app.py"}, []string{"PYTHONPATH=/app:" + site + "/"}, "PYTHONPATH holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepare(t, Config{Mode: Python, Path: tt.path, Argv: tt.argv, Environ: tt.env})
			if n := p.Notes(); len(n) != 1 || !strings.Contains(n[0], "already bootstrapped") || !strings.Contains(n[0], tt.why) {
				t.Errorf("notes %q, want already bootstrapped: %s", n, tt.why)
			}
			path, argv, env := p.Apply(tt.path, tt.argv, tt.env)
			if path != tt.path || !slices.Equal(argv, tt.argv) || !slices.Equal(env, tt.env) {
				t.Errorf("Apply changed an instrumented command: %q %q %q", path, argv, env)
			}
		})
	}
	// A plan made for a plain command still leaves a worker alone whose
	// environment turns out to be instrumented.
	p := prepare(t, Config{Mode: Python, Path: python, Argv: []string{"python3"}})
	env := []string{"PYTHONPATH=" + site}
	if path, _, _ := p.Apply(python, []string{"python3"}, env); path != python {
		t.Errorf("Apply wrapped a worker whose PYTHONPATH already bootstraps: %q", path)
	}
}
