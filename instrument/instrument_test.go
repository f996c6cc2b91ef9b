package instrument

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeExec writes an executable file, creating its directory.
func writeExec(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func prepare(t *testing.T, cfg Config) *Plan {
	t.Helper()
	p, err := Prepare(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func prepareErr(t *testing.T, cfg Config, want ...string) {
	t.Helper()
	p, err := Prepare(context.Background(), cfg)
	if err == nil {
		p.Close()
		t.Fatalf("Prepare succeeded: %v", p.Notes())
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error does not wrap ErrUnavailable: %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nlacks %q", err, w)
		}
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	python := writeExec(t, filepath.Join(bin, "python3.12"), "")
	writeExec(t, filepath.Join(bin, "node"), "")
	path := "PATH=" + bin
	tests := []struct {
		name, file, content string
		want                Mode
	}{
		{"python", "python", "", Python},
		{"python3", "python3", "", Python},
		{"python3.12", "python3.12", "", Python},
		{"node", "node", "", Node},
		{"nodejs", "nodejs", "", Node},
		{"java", "java", "", Java},
		{"shell", "sh", "", None},
		{"javac", "javac", "", None},
		{"nodemon", "nodemon", "#!/bin/sh\n", None},
		{"shell wrapper", "nodemon", "#!/bin/sh\nexec node \"$@\"\n", Node},
		{"console script", "celery", "#!" + python + "\nimport sys\n", Python},
		{"console script with args", "gunicorn", "#!" + python + " -E\n", Python},
		{"env", "rq", "#!/usr/bin/env python3\n", None}, // python3 is not on PATH
		{"env on PATH", "rq", "#!/usr/bin/env python3.12\n", Python},
		{"env -S", "tool", "#!/usr/bin/env -S node --max-old-space-size=100\n", Node},
		{"env assignment", "tool", "#!/usr/bin/env NODE_ENV=prod node\n", Node},
		{"env absolute", "tool", "#!/usr/bin/env /opt/java\n", Java},
		{"binary", "server", "\x7fELF\x02\x01", None},
		{"empty #!", "x", "#!\n", None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeExec(t, filepath.Join(dir, tt.name, tt.file), tt.content)
			if got := Detect(p, []string{path}); got != tt.want {
				t.Errorf("Detect(%s) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
	if got := Detect(filepath.Join(dir, "missing", "tool"), nil); got != None {
		t.Errorf("Detect(missing file) = %q", got)
	}
}

func TestPrepareAuto(t *testing.T) {
	dir := t.TempDir()
	sh := writeExec(t, filepath.Join(dir, "sh"), "")
	p := prepare(t, Config{Mode: Auto, Path: sh, Argv: []string{"sh", "-c", "true"}})
	if p.Mode() != None {
		t.Errorf("Mode() = %q, want none", p.Mode())
	}
	path, argv, env := p.Apply(sh, []string{"sh"}, []string{"A=1"})
	if path != sh || !slices.Equal(argv, []string{"sh"}) || !slices.Equal(env, []string{"A=1"}) {
		t.Errorf("Apply changed a command with no bootstrap: %q %q %q", path, argv, env)
	}
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "--instrument auto: sh is a shell") {
		t.Errorf("warnings %q", w)
	}
	server := writeExec(t, filepath.Join(dir, "server"), "\x7fELF\x02\x01")
	p = prepare(t, Config{Mode: Auto, Path: server, Argv: []string{"server"}})
	if notes := p.Notes(); p.Mode() != None || len(p.Warnings()) != 0 || len(notes) != 1 ||
		!strings.Contains(notes[0], "server is not a Python, Node.js or Java executable") {
		t.Errorf("notes %q warnings %q", notes, p.Warnings())
	}

	java := writeExec(t, filepath.Join(dir, "java"), "")
	prepareErr(t, Config{Mode: Auto, Path: java, Argv: []string{"java"}}, "no Java agent", "javaagent")
}

func TestPrepareNone(t *testing.T) {
	p := prepare(t, Config{Mode: None, Path: "/usr/bin/python3", Argv: []string{"python3"}})
	if p.Mode() != None || len(p.Notes()) != 0 {
		t.Errorf("mode %q notes %q", p.Mode(), p.Notes())
	}
	prepareErr(t, Config{Mode: "ruby"}, `unknown mode "ruby"`)
	var nilPlan *Plan
	if err := nilPlan.Close(); err != nil {
		t.Error(err)
	}
}

func TestEnvHelpers(t *testing.T) {
	env := []string{"A=1", "B=2", "A=3"}
	if got := getenv(env, "A"); got != "3" {
		t.Errorf("getenv = %q", got)
	}
	out := withEnv(env, "A", "4")
	if !slices.Equal(out, []string{"B=2", "A=4"}) || !slices.Equal(env, []string{"A=1", "B=2", "A=3"}) {
		t.Errorf("withEnv = %q (input now %q)", out, env)
	}
	if out := withoutEnv(env, "A"); !slices.Equal(out, []string{"B=2"}) || len(env) != 3 {
		t.Errorf("withoutEnv = %q", out)
	}
	for _, tt := range [][3]string{{"", "x", "x"}, {"a", "x", "a x"}, {"a  ", "x", "a x"}} {
		if got := appendOption(tt[0], tt[1]); got != tt[2] {
			t.Errorf("appendOption(%q, %q) = %q, want %q", tt[0], tt[1], got, tt[2])
		}
	}
}
