package instrument

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// Mode is a zero-code bootstrap, as otel-qrun's instrument key names it:
// [qrun.Instrument], the value of the key, under the name this package's
// API reads best with (instrument.Python, instrument.Config{Mode: ...}).
type Mode = qrun.Instrument

// The modes, those of package qrun. [Prepare] resolves Auto to one of the
// others.
const (
	None   = qrun.InstrumentNone   // no bootstrap: the worker starts its SDK itself, or has none
	Auto   = qrun.InstrumentAuto   // decided by [Detect] from the executable
	Python = qrun.InstrumentPython // put otel-qrun's sitecustomize first on PYTHONPATH
	Node   = qrun.InstrumentNode   // require the auto-instrumentations-node register
	Java   = qrun.InstrumentJava   // load the OpenTelemetry Java agent
)

// languages names the language of each bootstrap, for messages.
var languages = map[Mode]string{Python: "Python", Node: "Node.js", Java: "Java"}

// ErrUnavailable is wrapped by every error of [Prepare] that says the
// bootstrap cannot be applied: a package that is not installed, a missing
// agent jar, a mode that does not exist. It is a configuration error
// (otel-qrun exits 2).
var ErrUnavailable = errors.New("zero-code bootstrap unavailable")

// Names of what each bootstrap uses, and what to install for it.
const (
	PythonWrapper = "opentelemetry-instrument"
	PythonInstall = "pip install opentelemetry-distro opentelemetry-exporter-otlp"
	NodeRegister  = "@opentelemetry/auto-instrumentations-node/register"
	NodeAPI       = "@opentelemetry/api"
	NodeInstall   = "npm install @opentelemetry/api @opentelemetry/auto-instrumentations-node"
	JavaAgentURL  = "https://github.com/open-telemetry/opentelemetry-java-instrumentation/releases"
)

// Variables the bootstraps read and extend.
const (
	envPythonPath      = "PYTHONPATH"
	envNodeOptions     = "NODE_OPTIONS"
	envJavaToolOptions = "JAVA_TOOL_OPTIONS"
	envJDKJavaOptions  = "JDK_JAVA_OPTIONS"
	envNodeDetectors   = "OTEL_NODE_RESOURCE_DETECTORS"
)

// Config is what [Prepare] needs to know about the command and its workers.
type Config struct {
	Mode      Mode
	Path      string   // the command's executable, resolved through the workers' PATH
	Argv      []string // the command; Argv[0] as given
	Environ   []string // the environment the workers' environments are copies of
	Dir       string   // the workers' working directory; "" for the current one
	JavaAgent string   // Java: the agent jar (relative paths are relative to Dir)
	PerTask   bool     // every process runs one task: Node and Python run it in the carrier's context

	// ShutdownTimeout bounds each flush of a Python or Node.js worker's
	// SDK (Python: at os._exit, SIGTERM and fork; Node.js: at SIGTERM, and
	// a cluster primary's wait for its workers), passed to the worker as
	// QRUN_SHUTDOWN_TIMEOUT; 0 means qrun.DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// StopSignal is the launcher's stop_signal; 0 means SIGTERM. A Python
	// worker's SDK flushes at it as at SIGTERM (QRUN_STOP_SIGNAL).
	StopSignal syscall.Signal

	// DryRun describes the bootstrap without writing anything: the Node
	// preload and the Python bootstrap are then shown at a placeholder
	// path. Checks still run (node resolves the modules, python imports
	// the distro).
	DryRun bool
}

// Plan is a bootstrap prepared for one command. Apply it to every worker
// start; Close it when no worker runs any more.
type Plan struct {
	mode Mode
	dir  string // absolute working directory

	pythonDir  string        // Python: the bootstrap's directory, first on PYTHONPATH
	shutdown   time.Duration // Node, Python: QRUN_SHUTDOWN_TIMEOUT
	stopSignal string        // Python: QRUN_STOP_SIGNAL; "" for SIGTERM
	node       string        // Node: the node that resolved the modules
	requires   []string      // Node: modules and files to --require, in order
	javaAgent  string        // Java: absolute path of the jar
	preloadDir string        // Node, Python: private directory of the preload or bootstrap; "" when none was written
	// Node: OTEL_NODE_RESOURCE_DETECTORS for workers whose environment
	// has none; "" to leave it alone.
	nodeDetectors string
	nodePreload   bool // Node: the preload is required, and reads QRUN_SHUTDOWN_TIMEOUT

	notes    []string
	warnings []string
}

// Prepare checks, once, that the bootstrap of cfg.Mode can be applied to the
// command, and returns the plan for its workers. Auto is resolved with
// [Detect]; an executable it does not recognize gets no bootstrap. Errors
// wrap [ErrUnavailable] and say what to install or set. ctx bounds the run
// of node that checks the Node modules.
func Prepare(ctx context.Context, cfg Config) (*Plan, error) {
	p := &Plan{mode: cfg.Mode, dir: cfg.Dir}
	if cfg.Mode == None {
		return p, nil // nothing to check, not even the working directory
	}
	if !filepath.IsAbs(p.dir) {
		dir, err := filepath.Abs(p.dir) // "" is the current directory
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		p.dir = dir
	}
	if cfg.Mode == Auto {
		var args []string
		if len(cfg.Argv) > 1 {
			args = cfg.Argv[1:]
		}
		d := detect(p.abs(cfg.Path), args, cfg.Environ, p.dir)
		p.mode = d.mode
		switch {
		case d.undecided:
			p.warn("--instrument auto: %s; no bootstrap: name the language (--instrument python, node or java)", d.why)
		case p.mode == None:
			p.note("auto: %s: no bootstrap", d.why)
		default:
			p.note("auto: %s", d.why)
		}
	}
	p.shutdown = cfg.ShutdownTimeout
	if p.shutdown <= 0 {
		p.shutdown = qrun.DefaultShutdownTimeout
	}
	if sig := cfg.StopSignal; sig != 0 && sig != syscall.SIGTERM {
		p.stopSignal = unix.SignalName(sig)
	}
	var err error
	switch p.mode {
	case None:
	case Python:
		err = p.preparePython(ctx, cfg)
	case Node:
		err = p.prepareNode(ctx, cfg)
	case Java:
		err = p.prepareJava(cfg)
	default:
		err = fmt.Errorf("%w: unknown mode %q: want auto, python, node, java or none", ErrUnavailable, cfg.Mode)
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// Mode returns the bootstrap the plan applies: Python, Node, Java or None,
// never Auto.
func (p *Plan) Mode() Mode { return p.mode }

// Notes describes what the plan does and what it found, one line each, for
// otel-qrun config.
func (p *Plan) Notes() []string { return slices.Clone(p.notes) }

// Warnings are problems that do not stop the workers but cost them
// telemetry, one line each.
func (p *Plan) Warnings() []string { return slices.Clone(p.warnings) }

// Apply returns the executable, argument vector and environment that a
// worker executes instead of path, argv and env (the worker's complete
// environment). It does no I/O, never modifies its arguments, and returns
// them unchanged when the plan has no bootstrap or the worker already has
// it.
func (p *Plan) Apply(path string, argv, env []string) (string, []string, []string) {
	switch p.mode {
	case Python:
		return path, argv, p.applyPython(path, argv, env)
	case Node:
		return path, argv, p.applyNode(argv, env)
	case Java:
		return path, argv, p.applyJava(argv, env)
	}
	return path, argv, env
}

// Close removes what Prepare wrote (the Node preload, the Python
// bootstrap). It is safe
// to call more than once, and on a nil Plan.
func (p *Plan) Close() error {
	if p == nil || p.preloadDir == "" {
		return nil
	}
	dir := p.preloadDir
	p.preloadDir = ""
	return os.RemoveAll(dir)
}

func (p *Plan) note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

func (p *Plan) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// abs makes path absolute against the plan's working directory.
func (p *Plan) abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(p.dir, path)
}

// runCheck runs argv once in the workers' working directory with environ,
// bounded by timeout, and returns the JSON object of strings it prints on
// stdout. what names what it checks, for the error, which wraps
// ErrUnavailable and holds the program's stderr.
func (p *Plan) runCheck(ctx context.Context, timeout time.Duration, environ []string, what string, argv ...string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = environ
	c.Dir = p.dir
	c.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s could not check %s: %v: %s",
			ErrUnavailable, argv[0], what, err, strings.TrimSpace(stderr.String()))
	}
	found := map[string]string{}
	if err := json.Unmarshal(stdout.Bytes(), &found); err != nil {
		return nil, fmt.Errorf("%w: %s could not check %s: unexpected output %q",
			ErrUnavailable, argv[0], what, stdout.String())
	}
	return found, nil
}
