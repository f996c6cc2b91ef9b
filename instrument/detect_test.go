package instrument

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// debianCelery is the head of Debian's /usr/bin/celery (python3-celery): a
// sh script that execs the Python it finds, on itself.
const debianCelery = `#!/bin/sh
shell_code=''' '
# shell code
if command -v python3 > /dev/null && test -e /usr/lib/python3/dist-packages/celery
then
    exec python3 "$0" "$@"
elif command -v python2.7 > /dev/null && test -e /usr/lib/python2.7/dist-packages/celery
then
    exec python2.7 "$0" "$@"
else
    echo "Cannot find installed version of python-celery or python3-celery." >&2
    exit 1
fi

python_code='''
# python code
import re
import sys
from celery.__main__ import main
`

// pyenvShim is a shim as "pyenv rehash" writes it.
const pyenvShim = `#!/usr/bin/env bash
set -e
[ -n "$PYENV_DEBUG" ] && set -x

program="${0##*/}"

export PYENV_ROOT="/root/.pyenv"
exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"
`

// asdfShim is a shim as asdf writes it.
const asdfShim = `#!/usr/bin/env bash
# asdf-plugin: %s 3.12.0
exec /home/u/.asdf/bin/asdf exec "tool" "$@" # asdf_allow: ' asdf '
`

func TestDetectWrappers(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	python := writeExec(t, filepath.Join(bin, "python3"), "")
	writeExec(t, filepath.Join(bin, "node"), "")
	writeExec(t, filepath.Join(bin, "bash"), "")
	writeExec(t, filepath.Join(bin, "celery"), "#!"+python+"\nimport celery\n")
	writeExec(t, filepath.Join(bin, "server"), "\x7fELF\x02\x01")
	path := "PATH=" + bin
	tests := []struct {
		name, content string
		want          Mode
		undecided     bool
		why           string
	}{
		{"debian celery", debianCelery, Python, false, "celery is a sh script that execs python3"},
		{"env -S python3 -u", "#!/usr/bin/env -S python3 -u\n", Python, false, "run by python3"},
		{"env -Spython3", "#!/usr/bin/env -Spython3 -u\n", Python, false, "run by python3"},
		{"env -u VAR", "#!/usr/bin/env -u PYTHONHOME python3\n", Python, false, "run by python3"},
		{"env -S with assignment", "#!/usr/bin/env -S NODE_ENV=prod node --max-old-space-size=100\n", Node, false, "run by node"},
		{"env not on PATH", "#!/usr/bin/env ruby\n", None, false, "ruby, which is not on PATH"},
		{"pyenv shim", pyenvShim, Python, false, "pyenv shim"},
		{"nodenv shim", strings.ReplaceAll(pyenvShim, "pyenv", "nodenv"), Node, false, "nodenv shim"},
		{"asdf python shim", strings.Replace(asdfShim, "%s", "python", 1), Python, false, "asdf shim of the python plugin"},
		{"asdf nodejs shim", strings.Replace(asdfShim, "%s", "nodejs", 1), Node, false, "asdf shim of the nodejs plugin"},
		{"asdf ruby shim", strings.Replace(asdfShim, "%s", "ruby", 1), None, true, "no python, nodejs or java plugin"},
		{"exec node with options", "#!/bin/sh\nexec -a worker node --enable-source-maps \"$@\"\n", Node, false, "execs node"},
		{"exec env", "#!/bin/bash\ncd /srv && exec env -i PATH=/usr/bin /usr/bin/python3.11 -m app\n", Python, false, "execs python3.11"},
		{"exec a console script", "#!/bin/sh\nexec celery -A proj worker\n", Python, false, "execs celery"},
		{"exec a binary", "#!/bin/sh\nexec server --port 80\n", None, true, "execs no Python"},
		{"exec a variable", "#!/bin/sh\nPY=python3\nexec \"$PY\" app.py\n", None, true, "execs no Python"},
		{"both languages", "#!/bin/sh\nif [ -n \"$A\" ]; then exec python3 a.py; else exec node b.js; fi\n", None, true, "both Python and Node.js"},
		{"quoted exec is not exec", "#!/bin/sh\necho 'exec python3'\n\"exec\" python3\n", None, true, "execs no Python"},
		{"comment", "#!/bin/sh\n# exec python3\n", None, true, "execs no Python"},
		{"perl script", "#!/usr/bin/perl\nexec 'python3';\n", None, false, "run by perl, not a Python"},
		{"plain file", "hello\n", None, false, "not a Python, Node.js or Java executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeExec(t, filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"), "celery"), tt.content)
			d := detect(p, nil, []string{path}, "")
			if d.mode != tt.want || d.undecided != tt.undecided || !strings.Contains(d.why, tt.why) {
				t.Errorf("detect = %+v, want mode %q undecided %v, why with %q", d, tt.want, tt.undecided, tt.why)
			}
			if got := Detect(p, []string{path}); got != tt.want {
				t.Errorf("Detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDetectShellCommandString(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	python := writeExec(t, filepath.Join(bin, "python3"), "")
	writeExec(t, filepath.Join(bin, "celery"), "#!"+python+"\nimport celery\n")
	sh := writeExec(t, filepath.Join(bin, "sh"), "")
	env := []string{"PATH=" + bin}
	for _, tt := range []struct {
		args      []string
		want      Mode
		undecided bool
	}{
		{[]string{"-c", `exec celery -A proj worker -n "w${QRUN_WORKER_INDEX}@%h"`}, Python, false},
		{[]string{"-ec", "cd /srv; exec node app.js"}, Node, false},
		{[]string{"-c", "./run.sh"}, None, true},
		{[]string{"script.sh"}, None, true},
		{nil, None, true},
	} {
		d := detect(sh, tt.args, env, "")
		if d.mode != tt.want || d.undecided != tt.undecided {
			t.Errorf("sh %q: %+v, want %q undecided %v", tt.args, d, tt.want, tt.undecided)
		}
	}
}

// A wrapper that execs itself, or two that exec each other, end.
func TestDetectWrapperLoop(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	writeExec(t, a, "#!/bin/sh\nexec "+filepath.Join(dir, "b")+"\n")
	writeExec(t, filepath.Join(dir, "b"), "#!/bin/sh\nexec "+a+"\n")
	if d := detect(a, nil, nil, ""); d.mode != None || !d.undecided {
		t.Errorf("detect = %+v", d)
	}
}

func TestPrepareAutoUndecidedWarns(t *testing.T) {
	dir := t.TempDir()
	wrapper := writeExec(t, filepath.Join(dir, "celery"), "#!/bin/sh\nexec \"$PYTHON\" -m celery \"$@\"\n")
	p := prepare(t, Config{Mode: Auto, Path: wrapper, Argv: []string{"celery", "worker"}})
	if p.Mode() != None {
		t.Errorf("Mode() = %q", p.Mode())
	}
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "--instrument auto: celery is a sh script") ||
		!strings.Contains(w[0], "--instrument python, node or java") {
		t.Errorf("warnings %q", w)
	}
}

func FuzzShellWords(f *testing.F) {
	for _, s := range []string{debianCelery, pyenvShim, asdfShim, "#!/usr/bin/env -S python3 -u\n", `exec "a b" 'c'\d;e&&f||g|h`,
		"exec \"unterminated\nexec 'x", "#!\n", "#!/usr/bin/env -u\n", "#!/usr/bin/env -S\n", "exec -a", "exec env -- --\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		for _, cmd := range execCommands(string(script)) {
			if len(cmd) == 0 {
				t.Fatalf("empty exec command from %q", script)
			}
		}
		if interp, args, ok := parseShebang(script); ok {
			if interp == "" || strings.ContainsAny(interp, " \t\n") {
				t.Fatalf("interpreter %q from %q", interp, script)
			}
			name, rest := envCommand(args)
			if name == "" && len(rest) != 0 {
				t.Fatalf("no command but arguments %q", rest)
			}
		}
		_, _ = detectShim("x", script)
		for _, w := range shellWords(string(script)) {
			if w.text == "" && !w.quoted {
				t.Fatalf("empty unquoted word from %q", script)
			}
		}
	})
}

func FuzzDetectScript(f *testing.F) {
	for _, s := range []string{debianCelery, pyenvShim, "#!/bin/sh\nexec ./self\n", "#!/usr/bin/env -S node\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, script []byte) {
		p := filepath.Join(dir, "self")
		if err := os.WriteFile(p, script, 0o755); err != nil {
			t.Fatal(err)
		}
		d := detect(p, nil, []string{"PATH=" + dir}, dir)
		if d.undecided && d.mode != None {
			t.Fatalf("undecided with mode %q", d.mode)
		}
		if d.why == "" {
			t.Fatalf("no reason for %q", script)
		}
	})
}
