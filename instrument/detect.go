package instrument

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/otel-qrun/otel-qrun/internal/execpath"
)

// Detect returns the bootstrap for the executable at path: Python for a
// base name python*, Node for node (or nodejs), Java for java. A script
// counts as the interpreter it runs:
//
//   - its "#!" line names such an interpreter, directly or through env
//     (also "env -S python3 -u"), as the console scripts of Python and Node
//     packages do (celery, gunicorn, rq in a virtualenv);
//   - it is a shell script that execs such an interpreter, as Debian's
//     /usr/bin/celery does ("exec python3 "$0" "$@""), or execs another
//     command that does;
//   - it is a pyenv or nodenv shim (Python, Node), or an asdf shim of the
//     python, nodejs or java plugin.
//
// Anything else is None. environ's PATH finds the interpreters and commands
// named without a directory; relative paths are relative to the current
// directory.
func Detect(path string, environ []string) Mode {
	return detect(path, nil, environ, "").mode
}

// detection is what detect found out about a command.
type detection struct {
	mode Mode
	// why says how, for otel-qrun config ("celery is a sh script that
	// execs python3").
	why string
	// undecided is set when the command runs something whose language
	// could not be told: a shell, or a wrapper script whose exec target is
	// unknown. mode is then None.
	undecided bool
}

// maxWrapperDepth bounds how many wrappers deep detect follows exec
// targets (a shim that execs a wrapper that execs python).
const maxWrapperDepth = 4

// scriptHead is how much of a script detect reads.
const scriptHead = 16 << 10

// detect describes the command path with arguments args (without argv[0];
// nil when unknown), run with environ's PATH, relative paths resolved
// against dir.
func detect(path string, args, environ []string, dir string) detection {
	return detectDepth(path, args, environ, dir, 0)
}

func detectDepth(path string, args, environ []string, dir string, depth int) detection {
	d := detectOne(path, args, environ, dir, depth)
	if d.mode == "" {
		d.mode = None
	}
	return d
}

func detectOne(path string, args, environ []string, dir string, depth int) detection {
	base := filepath.Base(path)
	if m := modeOf(base); m != None {
		return detection{mode: m, why: fmt.Sprintf("%s is a %s executable", base, languages[m])}
	}
	if isShell(base) {
		if script, ok := shellCommandString(args); ok {
			if d, ok := detectExecs(script, environ, dir, depth); ok {
				d.why = fmt.Sprintf("%s -c execs %s", base, d.why)
				return d
			}
		}
		return detection{undecided: true, why: base + " is a shell: the language of what it runs cannot be told"}
	}
	head := readHead(path)
	interp, interpArgs, ok := parseShebang(head)
	if !ok {
		return detection{why: base + " is not a Python, Node.js or Java executable"}
	}
	if filepath.Base(interp) == "env" {
		name, rest := envCommand(interpArgs)
		if name == "" {
			return detection{undecided: true, why: base + " is a script run through env with no command"}
		}
		if !strings.Contains(name, "/") {
			found, ok := lookPath(name, getenv(environ, "PATH"), dir)
			if !ok {
				return detection{why: fmt.Sprintf("%s is a script run by %s, which is not on PATH", base, name)}
			}
			name = found
		}
		interp, interpArgs = name, rest
	}
	ibase := filepath.Base(interp)
	if m := modeOf(ibase); m != None {
		return detection{mode: m, why: fmt.Sprintf("%s is a script run by %s, a %s interpreter", base, ibase, languages[m])}
	}
	if !isShell(ibase) {
		return detection{why: fmt.Sprintf("%s is a script run by %s, not a Python, Node.js or Java interpreter", base, ibase)}
	}
	if d, ok := detectShim(base, head); ok {
		return d
	}
	_, body, _ := bytes.Cut(head, []byte("\n"))
	if d, ok := detectExecs(string(body), environ, dir, depth); ok {
		d.why = fmt.Sprintf("%s is a %s script that execs %s", base, ibase, d.why)
		return d
	}
	return detection{undecided: true, why: fmt.Sprintf("%s is a %s script that execs no Python, Node.js or Java interpreter otel-qrun recognizes", base, ibase)}
}

func modeOf(base string) Mode {
	switch {
	case strings.HasPrefix(base, "python"):
		return Python
	case base == "node" || base == "nodejs":
		return Node
	case base == "java":
		return Java
	}
	return None
}

// isShell tells whether base names a POSIX-style shell.
func isShell(base string) bool {
	switch base {
	case "sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox":
		return true
	}
	return false
}

// shellCommandString returns the script of "sh [options] -c SCRIPT ...".
func shellCommandString(args []string) (string, bool) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return "", false
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c") && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// detectShim recognizes the shims of version managers, whose exec target
// ("pyenv exec NAME") does not tell the language by itself: pyenv manages
// Python, nodenv Node.js, and an asdf shim names its plugin in a comment.
func detectShim(base string, script []byte) (detection, bool) {
	for _, cmd := range execCommands(string(script)) {
		if len(cmd) < 2 || cmd[1] != "exec" {
			continue
		}
		switch manager := filepath.Base(cmd[0]); manager {
		case "pyenv":
			return detection{mode: Python, why: base + " is a pyenv shim (pyenv runs Python)"}, true
		case "nodenv":
			return detection{mode: Node, why: base + " is a nodenv shim (nodenv runs Node.js)"}, true
		case "asdf":
			for line := range strings.Lines(string(script)) {
				plugin, ok := strings.CutPrefix(strings.TrimSpace(line), "# asdf-plugin:")
				if !ok {
					continue
				}
				fields := strings.Fields(plugin)
				if len(fields) == 0 {
					continue
				}
				m := None
				switch fields[0] {
				case "python":
					m = Python
				case "nodejs", "node":
					m = Node
				case "java":
					m = Java
				}
				if m != None {
					return detection{mode: m, why: fmt.Sprintf("%s is an asdf shim of the %s plugin", base, fields[0])}, true
				}
			}
			return detection{undecided: true, why: base + " is an asdf shim of no python, nodejs or java plugin"}, true
		}
	}
	return detection{}, false
}

// detectExecs looks at the commands that script execs: when those that can
// be told all run one language, that is the script's (why names the first
// of them). ok is false when no exec target could be told.
func detectExecs(script string, environ []string, dir string, depth int) (d detection, ok bool) {
	for _, cmd := range execCommands(script) {
		target := cmd[0]
		var m detection
		switch {
		case strings.ContainsAny(target, "$`"):
			continue // "$0", "$PYTHON": not known before it runs
		case modeOf(filepath.Base(target)) != None:
			m = detection{mode: modeOf(filepath.Base(target))}
		case depth+1 < maxWrapperDepth:
			resolved := target
			if !strings.Contains(target, "/") {
				found, ok := lookPath(target, getenv(environ, "PATH"), dir)
				if !ok {
					continue
				}
				resolved = found
			} else if !filepath.IsAbs(target) && dir != "" {
				resolved = filepath.Join(dir, target)
			}
			m = detectDepth(resolved, cmd[1:], environ, dir, depth+1)
			if m.mode == None {
				continue
			}
		default:
			continue
		}
		switch {
		case !ok:
			d, ok = detection{mode: m.mode, why: filepath.Base(target)}, true
		case d.mode != m.mode:
			return detection{undecided: true, why: fmt.Sprintf("both %s and %s (%s)", languages[d.mode], languages[m.mode], filepath.Base(target))}, true
		}
	}
	return d, ok
}

// execCommands returns the commands of script's exec builtins, one word
// list each (target first), with exec's own options, assignments and an
// env in front removed. It reads the script line by line, with quotes and
// backslashes, but no expansion: words holding "$" stay as written.
func execCommands(script string) [][]string {
	var out [][]string
	for line := range strings.Lines(script) {
		words := shellWords(line)
		start := true
		for i := 0; i < len(words); i++ {
			w := words[i]
			if isSeparator(w) {
				start = true
				continue
			}
			if !start {
				continue
			}
			start = false
			if w.text != "exec" || w.quoted {
				continue
			}
			var cmd []string
			for _, x := range words[i+1:] {
				if isSeparator(x) {
					break
				}
				cmd = append(cmd, x.text)
			}
			if cmd = execTarget(cmd); len(cmd) > 0 {
				out = append(out, cmd)
			}
		}
	}
	return out
}

// execTarget strips "exec"'s options (-a NAME, -c, -l), variable
// assignments and a leading env (with its options) from cmd.
func execTarget(cmd []string) []string {
	for len(cmd) > 0 {
		switch w := cmd[0]; {
		case w == "-a" && len(cmd) > 1:
			cmd = cmd[2:]
		case w == "--" || strings.HasPrefix(w, "-"):
			cmd = cmd[1:]
		case isAssignment(w):
			cmd = cmd[1:]
		case filepath.Base(w) == "env":
			name, args := envCommand(cmd[1:])
			if name == "" {
				return nil
			}
			return append([]string{name}, args...)
		default:
			return cmd
		}
	}
	return nil
}

// envCommand returns the command that env runs given args: env's options
// (with their arguments, and -S's string split into words) and NAME=value
// assignments skipped.
func envCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-S" || a == "--split-string":
			if i+1 < len(args) {
				return envCommand(append(strings.Fields(args[i+1]), args[i+2:]...))
			}
			return "", nil
		case strings.HasPrefix(a, "-S") && !strings.HasPrefix(a, "--"):
			return envCommand(append(strings.Fields(a[2:]), args[i+1:]...))
		case strings.HasPrefix(a, "--split-string="):
			return envCommand(append(strings.Fields(strings.TrimPrefix(a, "--split-string=")), args[i+1:]...))
		case a == "-u" || a == "--unset" || a == "-C" || a == "--chdir" || a == "-P":
			i++ // the option's argument
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], args[i+2:]
			}
			return "", nil
		case strings.HasPrefix(a, "-"), isAssignment(a):
		default:
			return a, args[i+1:]
		}
	}
	return "", nil
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// word is a shell word: its text without quotes, and whether any part of
// it was quoted (a quoted "exec" is not the builtin). An unquoted ";",
// "&&", "||", "|", "&", "(", ")", "{", "}" and the reserved words that
// start a command list are separators.
type word struct {
	text   string
	quoted bool
	sep    bool
}

func isSeparator(w word) bool { return w.sep }

// shellWords splits one line of shell into words; a "#" that starts a word
// ends the line. Unbalanced quotes end at the end of the line.
func shellWords(line string) []word {
	var (
		out  []word
		cur  strings.Builder
		have bool
		q    bool
	)
	flush := func() {
		if have {
			t := cur.String()
			sep := !q && (t == "then" || t == "else" || t == "do" || t == "elif" || t == "if" || t == "while" || t == "until" || t == "!")
			out = append(out, word{text: t, quoted: q, sep: sep})
		}
		cur.Reset()
		have, q = false, false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			have, q = true, true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				end = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			have, q = true, true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				cur.WriteByte(line[j])
			}
			i = j
			have, q = true, true
		case c == '#' && !have:
			flush()
			return out
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
		case strings.IndexByte(";&|(){}", c) >= 0:
			flush()
			text := string(c)
			if (c == '&' || c == '|') && i+1 < len(line) && line[i+1] == c {
				i++
				text += text
			}
			out = append(out, word{text: text, sep: true})
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	return out
}

// readHead returns the first scriptHead bytes of the file at path, or nil.
func readHead(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, scriptHead)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return buf[:n]
}

// parseShebang returns the interpreter of a "#!" first line and its
// arguments, split on blanks as env -S would; ok is false when head does
// not start with "#!" or names no interpreter.
func parseShebang(head []byte) (interp string, args []string, ok bool) {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	rest, found := bytes.CutPrefix(line, []byte("#!"))
	if !found {
		return "", nil, false
	}
	fields := strings.Fields(string(rest))
	if len(fields) == 0 {
		return "", nil, false
	}
	return fields[0], fields[1:], true
}

// interpreter returns the interpreter named by the "#!" line of the script
// at path, resolved through environ's PATH (relative entries against dir)
// when the line runs it through env; "" when path is not such a script or
// the interpreter is not found.
func interpreter(path string, environ []string, dir string) string {
	interp, args, ok := parseShebang(readHead(path))
	if !ok {
		return ""
	}
	if filepath.Base(interp) != "env" {
		return interp
	}
	name, _ := envCommand(args)
	if name == "" || strings.Contains(name, "/") {
		return name
	}
	found, _ := lookPath(name, getenv(environ, "PATH"), dir)
	return found
}

// interpreterOf is the interpreter of mode (Node, Python) that workers
// run: the command itself, the interpreter of its "#!" line, or name on
// the workers' PATH. Without one, the error wraps ErrUnavailable.
func (p *Plan) interpreterOf(cfg Config, mode Mode, name string) (string, error) {
	if modeOf(filepath.Base(cfg.Path)) == mode {
		return p.abs(cfg.Path), nil
	}
	if interp := interpreter(p.abs(cfg.Path), cfg.Environ, p.dir); modeOf(filepath.Base(interp)) == mode {
		return p.abs(interp), nil
	}
	if found, ok := lookPath(name, getenv(cfg.Environ, "PATH"), p.dir); ok {
		return p.abs(found), nil
	}
	return "", fmt.Errorf("%w: %s is not a %s command and %s is not on PATH", ErrUnavailable, filepath.Base(cfg.Path), languages[mode], name)
}

// lookPath finds file as a worker with pathList as its PATH would, with
// relative directories taken relative to base ("" for the current
// directory): execpath.Find, the launcher's own lookup, reporting only
// whether there is one.
func lookPath(file, pathList, base string) (string, bool) {
	p, err := execpath.Find(file, pathList, base)
	return p, err == nil
}
