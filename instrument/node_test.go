package instrument

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// fakeNode writes a node that records its arguments, working directory and
// NODE_OPTIONS to dir/node.log and prints out (the check's JSON), or fails
// with status 3 when out is "fail". It returns the bin directory.
func fakeNode(t *testing.T, dir, out string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	script := `#!/bin/sh
{ echo "args=$1"; echo "cwd=$(pwd)"; echo "NODE_OPTIONS=${NODE_OPTIONS-unset}"; } >> ` + filepath.Join(dir, "node.log") + `
`
	if out == "fail" {
		script += "echo 'node: bad option' >&2; exit 3\n"
	} else {
		script += "printf '%s' '" + out + "'\n"
	}
	writeExec(t, filepath.Join(bin, "node"), script)
	return bin
}

func nodeLog(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "node.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

const (
	resolvedRegister = `{"@opentelemetry/auto-instrumentations-node/register":"/app/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js"}`
	resolvedBoth     = `{"@opentelemetry/auto-instrumentations-node/register":"/app/r.js","@opentelemetry/api":"/app/api.js"}`
	missingAll       = `{"@opentelemetry/auto-instrumentations-node/register":"","@opentelemetry/api":""}`
	missingAPI       = `{"@opentelemetry/auto-instrumentations-node/register":"/app/r.js","@opentelemetry/api":""}`
)

func TestNodeAppendsTheRegisterToNODE_OPTIONS(t *testing.T) {
	dir := t.TempDir()
	bin := fakeNode(t, dir, resolvedRegister)
	node := filepath.Join(bin, "node")
	work := filepath.Join(dir, "app")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	environ := []string{"PATH=" + bin, "NODE_OPTIONS=--max-old-space-size=512 --require ./setup.js"}
	p := prepare(t, Config{Mode: Auto, Path: node, Argv: []string{"node", "app.js"}, Environ: environ, Dir: work})
	if p.Mode() != Node {
		t.Fatalf("mode %q", p.Mode())
	}
	log := nodeLog(t, dir)
	if strings.Count(log, "args=-e") != 1 || !strings.Contains(log, "cwd="+work+"\n") || !strings.Contains(log, "NODE_OPTIONS=unset") {
		t.Errorf("node ran as:\n%s\nwant once, with -e, in %s, without the user's NODE_OPTIONS", log, work)
	}
	if n := p.Notes(); len(n) != 4 || n[0] != "auto: node is a Node.js executable" || !strings.Contains(n[1], "register.js") ||
		!strings.Contains(n[2], "start new traces") || !strings.Contains(n[3], "no cloud metadata probes") {
		t.Errorf("notes %q", n)
	}

	tests := []struct {
		name, nodeOptions, want string
	}{
		{"none", "", "--require " + NodeRegister},
		{"appended", "--max-old-space-size=512 --require ./setup.js",
			"--max-old-space-size=512 --require ./setup.js --require " + NodeRegister},
		{"trailing space", "--inspect ", "--inspect --require " + NodeRegister},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"A=1"}
			if tt.nodeOptions != "" {
				env = append(env, "NODE_OPTIONS="+tt.nodeOptions)
			}
			before := slices.Clone(env)
			path, argv, got := p.Apply(node, []string{"node", "app.js"}, env)
			if path != node || !slices.Equal(argv, []string{"node", "app.js"}) {
				t.Errorf("command changed: %q %q", path, argv)
			}
			if v := getenv(got, "NODE_OPTIONS"); v != tt.want {
				t.Errorf("NODE_OPTIONS=%q, want %q", v, tt.want)
			}
			if getenv(got, "A") != "1" || !slices.Equal(env, before) {
				t.Errorf("environment %q (input now %q)", got, env)
			}
		})
	}
}

func TestNodeNeverTwice(t *testing.T) {
	dir := t.TempDir()
	bin := fakeNode(t, dir, resolvedRegister)
	node := filepath.Join(bin, "node")
	p := prepare(t, Config{Mode: Node, Path: node, Argv: []string{"node", "app.js"}, Environ: []string{"PATH=" + bin}})
	for _, opts := range []string{
		"--require @opentelemetry/auto-instrumentations-node/register",
		"-r @opentelemetry/auto-instrumentations-node/register --inspect",
		"--require=@opentelemetry/auto-instrumentations-node/register",
		"--import @opentelemetry/auto-instrumentations-node/register",
		`--require "/srv/my app/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js"`,
		"--require /srv/node_modules/@opentelemetry/auto-instrumentations-node/register",
	} {
		env := []string{"NODE_OPTIONS=" + opts}
		if _, _, got := p.Apply(node, []string{"node", "app.js"}, env); !slices.Equal(got, env) {
			t.Errorf("NODE_OPTIONS=%s: changed to %q", opts, got)
		}
	}
	for _, argv := range [][]string{
		{"node", "-r", NodeRegister, "app.js"},
		{"node", "--inspect", "--require=" + NodeRegister, "app.js"},
	} {
		if _, _, got := p.Apply(node, argv, nil); got != nil {
			t.Errorf("argv %q: environment changed to %q", argv, got)
		}
	}
	// A module named like the register after the script is the script's
	// argument, not a preload.
	if _, _, got := p.Apply(node, []string{"node", "app.js", "-r", NodeRegister}, nil); getenv(got, "NODE_OPTIONS") == "" {
		t.Error("a -r after the script counted as a preload")
	}

	// Already there at start: only otel-qrun's preload is added.
	dir2 := t.TempDir()
	bin2 := fakeNode(t, dir2, resolvedBoth)
	env2 := []string{"NODE_OPTIONS=-r " + NodeRegister}
	p = prepare(t, Config{Mode: Node, Path: filepath.Join(bin2, "node"), Argv: []string{"node", "app.js"}, Environ: env2})
	_, _, got := p.Apply(filepath.Join(bin2, "node"), []string{"node", "app.js"}, env2)
	if opts := getenv(got, "NODE_OPTIONS"); strings.Count(opts, NodeRegister) != 1 || !strings.Contains(opts, nodePreloadName) {
		t.Errorf("NODE_OPTIONS=%q, want the register once and the preload", opts)
	}
	if n := p.Notes(); len(n) == 0 || !strings.Contains(n[0], "already bootstrapped") {
		t.Errorf("notes %q", n)
	}
}

func TestNodeErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("register missing", func(t *testing.T) {
		bin := fakeNode(t, filepath.Join(dir, "missing"), missingAll)
		prepareErr(t, Config{Mode: Node, Path: filepath.Join(bin, "node"), Argv: []string{"node"}, Dir: dir},
			"cannot resolve "+NodeRegister+" from "+dir, "install it there: npm install @opentelemetry/api @opentelemetry/auto-instrumentations-node")
	})
	t.Run("node fails", func(t *testing.T) {
		bin := fakeNode(t, filepath.Join(dir, "fails"), "fail")
		prepareErr(t, Config{Mode: Node, Path: filepath.Join(bin, "node"), Argv: []string{"node"}},
			"could not check the Node.js modules", "exit status 3", "node: bad option")
	})
	t.Run("garbage", func(t *testing.T) {
		bin := fakeNode(t, filepath.Join(dir, "garbage"), "hello")
		prepareErr(t, Config{Mode: Node, Path: filepath.Join(bin, "node"), Argv: []string{"node"}}, `unexpected output "hello"`)
	})
	t.Run("no node", func(t *testing.T) {
		npm := writeExec(t, filepath.Join(dir, "npm-bin", "npm"), "#!/bin/sh\n")
		prepareErr(t, Config{Mode: Node, Path: npm, Argv: []string{"npm", "start"}, Environ: []string{"PATH=" + filepath.Dir(npm)}},
			"node is not on PATH")
	})
	t.Run("api missing per task", func(t *testing.T) {
		bin := fakeNode(t, filepath.Join(dir, "noapi"), missingAPI)
		prepareErr(t, Config{Mode: Node, Path: filepath.Join(bin, "node"), Argv: []string{"node"}, PerTask: true},
			"cannot resolve @opentelemetry/api", "per-task processes need")
	})
}

func TestNodeExecutableOfOtherCommands(t *testing.T) {
	dir := t.TempDir()
	bin := fakeNode(t, dir, resolvedRegister)
	// A script run by node through env: node is found on PATH.
	tool := writeExec(t, filepath.Join(dir, "tools", "worker"), "#!/usr/bin/env node\n")
	p := prepare(t, Config{Mode: Auto, Path: tool, Argv: []string{"worker"}, Environ: []string{"PATH=" + bin}})
	if p.Mode() != Node || !strings.Contains(nodeLog(t, dir), "args=-e") {
		t.Errorf("mode %q; node log %q", p.Mode(), nodeLog(t, dir))
	}
}

func TestNodePerTaskPreload(t *testing.T) {
	dir := t.TempDir()
	bin := fakeNode(t, dir, resolvedBoth)
	node := filepath.Join(bin, "node")
	tmp := filepath.Join(dir, "tmp dir") // a space: the path must be quoted
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)

	p, err := Prepare(t.Context(), Config{Mode: Node, Path: node, Argv: []string{"node", "task.js"}, PerTask: true,
		Environ: []string{"OTEL_NODE_RESOURCE_DETECTORS=host,os"}, ShutdownTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, _, env := p.Apply(node, []string{"node", "task.js"}, []string{"NODE_OPTIONS=--inspect"})
	opts := splitNodeOptions(getenv(env, "NODE_OPTIONS"))
	if len(opts) != 5 || opts[0] != "--inspect" || opts[1] != "--require" || opts[2] != NodeRegister || opts[3] != "--require" {
		t.Fatalf("NODE_OPTIONS %q, want --inspect, then the register, then the preload", getenv(env, "NODE_OPTIONS"))
	}
	preload := opts[4]
	// The preload bounds its flush at SIGTERM by the launcher's shutdown_timeout.
	if v := getenv(env, qrun.EnvShutdownTimeout); v != "1.5" {
		t.Errorf("%s=%q, want 1.5", qrun.EnvShutdownTimeout, v)
	}
	if filepath.Dir(filepath.Dir(preload)) != tmp || filepath.Base(preload) != "preload.cjs" {
		t.Errorf("preload %q, want a private directory in TMPDIR", preload)
	}
	if b, err := os.ReadFile(preload); err != nil || !bytes.Equal(b, NodePreload()) {
		t.Errorf("preload file: %v; same as the embedded one: %v", err, bytes.Equal(b, NodePreload()))
	}
	if st, err := os.Stat(filepath.Dir(preload)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("preload directory mode %v, %v; want 0700", st.Mode(), err)
	}
	// Applying again to a worker that already has it changes nothing.
	if _, _, again := p.Apply(node, []string{"node", "task.js"}, env); !slices.Equal(again, env) {
		t.Errorf("applied twice: %q", again)
	}
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "lacks env") {
		t.Errorf("warnings %q", w)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(preload)); !os.IsNotExist(err) {
		t.Errorf("preload directory still there after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// A dry run writes nothing.
	dry := prepare(t, Config{Mode: Node, Path: node, Argv: []string{"node"}, PerTask: true, DryRun: true})
	_, _, env = dry.Apply(node, []string{"node"}, nil)
	if v := getenv(env, "NODE_OPTIONS"); !strings.Contains(v, "otel-qrun-node-XXXXXX/preload.cjs") {
		t.Errorf("dry run NODE_OPTIONS %q, want a placeholder", v)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("dry run wrote %v", entries)
	}
}

func TestNodeOptionsQuoting(t *testing.T) {
	for _, s := range []string{"plain", "a b", `a"b`, `a\b`, `"`, `\`, "a  b ", `C:\x y\"z"`} {
		if got := splitNodeOptions("--x " + nodeQuote(s) + " --y"); !slices.Equal(got, []string{"--x", s, "--y"}) {
			t.Errorf("nodeQuote(%q) = %q splits as %q", s, nodeQuote(s), got)
		}
	}
	for in, want := range map[string][]string{
		"":                       nil,
		"   ":                    nil,
		"-r  x":                  {"-r", "x"},
		`--require "a b" -r c`:   {"--require", "a b", "-r", "c"},
		`--title="x\"y"`:         {`--title=x"y`},
		`a\ b`:                   {`a\`, "b"},
		"--require=x --import y": {"--require=x", "--import", "y"},
	} {
		if got := splitNodeOptions(in); !slices.Equal(got, want) {
			t.Errorf("splitNodeOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNodeQuote(f *testing.F) {
	for _, s := range []string{"a", "a b", `a"b`, `\`, `"\"`, " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		if got := splitNodeOptions(nodeQuote(s)); !slices.Equal(got, []string{s}) {
			t.Fatalf("nodeQuote(%q) = %q splits as %q", s, nodeQuote(s), got)
		}
	})
}

// TestNodePreloadWithNode runs the embedded preload in a real node, with a
// stand-in @opentelemetry/api whose context is an AsyncLocalStorage store,
// so the wrapping of the main module is checked without the npm registry.
func TestNodePreloadWithNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the preload is checked by the end-to-end Node tests where it is")
	}
	dir := t.TempDir()
	preload := filepath.Join(dir, "preload.cjs")
	if err := os.WriteFile(preload, NodePreload(), 0o600); err != nil {
		t.Fatal(err)
	}
	fakeAPI := `const { AsyncLocalStorage } = require('async_hooks');
const als = new AsyncLocalStorage();
const ROOT_CONTEXT = { root: true };
globalThis.extracts = 0;
module.exports = {
  ROOT_CONTEXT,
  propagation: {
    extract(ctx, carrier, getter) {
      globalThis.extracts++;
      return { parent: ctx === ROOT_CONTEXT ? 'root' : 'other', traceparent: getter.get(carrier, 'traceparent'),
        tracestate: getter.get(carrier, 'tracestate'), baggage: getter.get(carrier, 'baggage'),
        keys: getter.keys(carrier).includes('TRACEPARENT') };
    },
  },
  context: {
    with(ctx, fn, thisArg, ...args) { return als.run(ctx, () => fn.apply(thisArg, args)); },
    active() { return als.getStore() || ROOT_CONTEXT; },
  },
};
`
	writeExec(t, filepath.Join(dir, "app", "node_modules", "@opentelemetry", "api", "index.js"), fakeAPI)
	writeExec(t, filepath.Join(dir, "app", "task.js"), `const api = require('@opentelemetry/api');
const show = (where) => console.log(JSON.stringify({ where, ctx: api.context.active(), main: require.main === module,
  argv: process.argv.slice(2), extracts: globalThis.extracts }));
show('main');
setTimeout(() => show('timer'), 5);
Promise.resolve().then(() => show('promise'));
`)
	writeExec(t, filepath.Join(dir, "app", "task.mjs"), `import api from '@opentelemetry/api';
await new Promise((resolve) => setTimeout(resolve, 5));
console.log(JSON.stringify({ where: 'esm', ctx: api.context.active(), main: true, argv: process.argv.slice(2), extracts: globalThis.extracts }));
`)
	// pnpm: the API only beside the register, not in the app's node_modules.
	pnpm := filepath.Join(dir, "pnpm")
	reg := filepath.Join(pnpm, "node_modules", "@opentelemetry", "auto-instrumentations-node")
	writeExec(t, filepath.Join(reg, "package.json"), `{"name":"@opentelemetry/auto-instrumentations-node","exports":{"./register":"./register.js"}}`)
	writeExec(t, filepath.Join(reg, "register.js"), "")
	writeExec(t, filepath.Join(reg, "node_modules", "@opentelemetry", "api", "index.js"), fakeAPI)
	writeExec(t, filepath.Join(pnpm, "task.js"), `const api = require('module').createRequire(require.resolve('@opentelemetry/auto-instrumentations-node/register'))('@opentelemetry/api');
console.log(JSON.stringify({ where: 'pnpm', ctx: api.context.active(), main: true, argv: [], extracts: globalThis.extracts }));
`)

	type line struct {
		Where    string
		Ctx      map[string]any
		Main     bool
		Argv     []string
		Extracts int
	}
	run := func(t *testing.T, dir, nodeOptions string, args ...string) ([]line, string) {
		t.Helper()
		c := exec.Command(node, args...)
		c.Dir = dir
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=" + nodeOptions,
			"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "TRACESTATE=vendor=x", "BAGGAGE=k=v",
			"QRUN_TASK_ID=t-1"}
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("node %q: %v\n%s", args, err, stderr.String())
		}
		var out []line
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var x line
			if err := json.Unmarshal([]byte(l), &x); err != nil {
				t.Fatalf("output line %q: %v", l, err)
			}
			out = append(out, x)
		}
		return out, stderr.String()
	}
	inContext := func(l line) bool {
		return l.Ctx["parent"] == "root" && l.Ctx["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" &&
			l.Ctx["tracestate"] == "vendor=x" && l.Ctx["baggage"] == "k=v" && l.Ctx["keys"] == true
	}
	app := filepath.Join(dir, "app")
	q := nodeQuote(preload)

	t.Run("long-lived worker not wrapped", func(t *testing.T) {
		c := exec.Command(node, "task.js")
		c.Dir = app
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=--require " + q, "TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
		out, err := c.Output()
		if err != nil || !strings.Contains(string(out), `"ctx":{"root":true}`) || strings.Contains(string(out), "traceparent") {
			t.Errorf("without QRUN_TASK_ID: %v %s; want the root context, no extraction", err, out)
		}
	})

	t.Run("SIGTERM", func(t *testing.T) {
		// A register-like preload installs a SIGTERM handler that keeps the
		// process alive; the server keeps the event loop busy.
		writeExec(t, filepath.Join(app, "register-like.js"), "process.on('SIGTERM', () => {});\n")
		writeExec(t, filepath.Join(app, "server.js"), `require('net').createServer().listen(0, () => console.log('ready'));
if (process.argv[2] === 'own') {
  process.on('SIGTERM', () => { console.log('own handler'); setTimeout(() => process.exit(7), 50); });
}
`)
		for _, tt := range []struct {
			name, arg string
			signaled  bool
			code      int
		}{{"no handler of its own: dies of SIGTERM", "", true, 0}, {"its own handler decides", "own", false, 7}} {
			t.Run(tt.name, func(t *testing.T) {
				c := exec.Command(node, "server.js", tt.arg)
				c.Dir = app
				c.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=--require ./register-like.js --require " + q}
				stdout, err := c.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				defer c.Process.Kill()
				if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
					t.Fatalf("server did not start: %v", err)
				}
				c.Process.Signal(syscall.SIGTERM)
				done := make(chan error, 1)
				go func() { done <- c.Wait() }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("still running 10s after SIGTERM")
				}
				ws := c.ProcessState.Sys().(syscall.WaitStatus)
				if ws.Signaled() != tt.signaled || (!tt.signaled && ws.ExitStatus() != tt.code) ||
					(tt.signaled && ws.Signal() != syscall.SIGTERM) {
					t.Errorf("exit %v, want signaled=%v code %d", c.ProcessState, tt.signaled, tt.code)
				}
			})
		}
	})

	t.Run("SIGTERM flush bounded by QRUN_SHUTDOWN_TIMEOUT", func(t *testing.T) {
		// The SDK's flush takes 2.5 s: longer than a fixed 2 s bound,
		// well within the shutdown_timeout of 60 s the launcher passes.
		flush := filepath.Join(dir, "flush")
		writeExec(t, filepath.Join(flush, "node_modules", "@opentelemetry", "api", "index.js"), `const slow = {
  forceFlush: () => new Promise((resolve) => setTimeout(() => { require('fs').writeSync(1, 'flushed\n'); resolve(); }, 2500)),
};
module.exports = {
  ROOT_CONTEXT: {},
  propagation: { extract: (ctx) => ctx },
  context: { with: (ctx, fn, thisArg, ...args) => fn.apply(thisArg, args), active: () => ({}) },
  trace: { getTracerProvider: () => slow },
  metrics: { getMeterProvider: () => ({}) },
};
`)
		writeExec(t, filepath.Join(flush, "register-like.js"), "process.on('SIGTERM', () => {});\n")
		writeExec(t, filepath.Join(flush, "server.js"), "require('net').createServer().listen(0, () => console.log('ready'));\n")
		c := exec.Command(node, "server.js")
		c.Dir = flush
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=--require ./register-like.js --require " + q,
			"QRUN_SHUTDOWN_TIMEOUT=60"}
		stdout, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Process.Kill()
		out := bufio.NewReader(stdout)
		if _, err := out.ReadString('\n'); err != nil {
			t.Fatalf("server did not start: %v", err)
		}
		c.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(out) // until the process is gone
		c.Wait()
		ws := c.ProcessState.Sys().(syscall.WaitStatus)
		if string(rest) != "flushed\n" || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("after SIGTERM: output %q, %v; want the flush to finish, then death by SIGTERM", rest, c.ProcessState)
		}
	})

	t.Run("commonjs", func(t *testing.T) {
		lines, _ := run(t, app, "--require "+q, "task.js", "--flag", "x")
		if len(lines) != 3 {
			t.Fatalf("lines %+v", lines)
		}
		for _, l := range lines {
			if !inContext(l) || !l.Main || !slices.Equal(l.Argv, []string{"--flag", "x"}) || l.Extracts != 1 {
				t.Errorf("%s: %+v; want the carrier's context, require.main, the args, one extract", l.Where, l)
			}
		}
	})
	t.Run("es module", func(t *testing.T) {
		lines, _ := run(t, app, "--require "+q, "task.mjs")
		if len(lines) != 1 || !inContext(lines[0]) {
			t.Errorf("lines %+v; want the carrier's context after an await", lines)
		}
	})
	t.Run("required twice", func(t *testing.T) {
		lines, _ := run(t, app, "--require "+q+" --require "+q, "task.js")
		if len(lines) != 3 || lines[0].Extracts != 1 || !inContext(lines[0]) {
			t.Errorf("lines %+v; want one wrapping", lines)
		}
	})
	t.Run("without the preload", func(t *testing.T) {
		lines, _ := run(t, app, "", "task.js")
		if len(lines) != 3 || inContext(lines[0]) || lines[0].Ctx["root"] != true {
			t.Errorf("lines %+v; want the root context", lines)
		}
	})
	t.Run("api beside the register", func(t *testing.T) {
		lines, _ := run(t, pnpm, "--require "+q, "task.js")
		if len(lines) != 1 || !inContext(lines[0]) {
			t.Errorf("lines %+v; want the carrier's context", lines)
		}
	})
	t.Run("no api", func(t *testing.T) {
		empty := t.TempDir()
		writeExec(t, filepath.Join(empty, "task.js"), `console.log(JSON.stringify({ where: 'plain', main: require.main === module }));`)
		lines, stderr := run(t, empty, "--require "+q, "task.js")
		if len(lines) != 1 || !lines[0].Main || !strings.Contains(stderr, "otel-qrun: cannot load @opentelemetry/api") {
			t.Errorf("lines %+v, stderr %q; want the task to run, with a warning", lines, stderr)
		}
	})
}

// Workers whose environment names no resource detectors get the local ones
// (the register's default, all, probes cloud metadata services: a GCP
// MetadataLookupWarning on every worker off-cloud); a list of the user's
// is kept, with a warning naming everything lost when it drops env.
func TestNodeResourceDetectors(t *testing.T) {
	dir := t.TempDir()
	bin := fakeNode(t, dir, resolvedBoth)
	node := filepath.Join(bin, "node")
	p := prepare(t, Config{Mode: Node, Path: node, Argv: []string{"node", "app.js"}, Environ: []string{"PATH=" + bin}})
	_, _, env := p.Apply(node, []string{"node", "app.js"}, []string{"A=1"})
	if got := getenv(env, "OTEL_NODE_RESOURCE_DETECTORS"); got != "container,host,os,process,env" {
		t.Errorf("OTEL_NODE_RESOURCE_DETECTORS=%q, want the local detectors, env last", got)
	}
	_, _, env = p.Apply(node, []string{"node", "app.js"}, []string{"OTEL_NODE_RESOURCE_DETECTORS=all"})
	if got := getenv(env, "OTEL_NODE_RESOURCE_DETECTORS"); got != "all" {
		t.Errorf("a worker's own list changed to %q", got)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}

	for _, list := range []string{"host,os", "none"} {
		p = prepare(t, Config{Mode: Node, Path: node, Argv: []string{"node", "app.js"},
			Environ: []string{"PATH=" + bin, "OTEL_NODE_RESOURCE_DETECTORS=" + list}})
		w := p.Warnings()
		if len(w) != 1 {
			t.Fatalf("%s: warnings %q", list, w)
		}
		for _, lost := range []string{"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME", "service.instance.id", "qrun.worker.index", "service.name"} {
			if !strings.Contains(w[0], lost) {
				t.Errorf("%s: warning %q does not name %s", list, w[0], lost)
			}
		}
		if _, _, env := p.Apply(node, []string{"node", "app.js"}, []string{"OTEL_NODE_RESOURCE_DETECTORS=" + list}); getenv(env, "OTEL_NODE_RESOURCE_DETECTORS") != list {
			t.Errorf("the user's list %q changed", list)
		}
	}
	for _, list := range []string{"env", "host, env", "all"} {
		p = prepare(t, Config{Mode: Node, Path: node, Argv: []string{"node", "app.js"},
			Environ: []string{"PATH=" + bin, "OTEL_NODE_RESOURCE_DETECTORS=" + list}})
		if w := p.Warnings(); len(w) != 0 {
			t.Errorf("%s: warnings %q", list, w)
		}
	}
}
