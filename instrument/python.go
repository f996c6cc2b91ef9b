package instrument

import (
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// pythonFS holds otel-qrun's Python bootstrap: sitecustomize.py, which runs
// _otel_qrun_bootstrap.py, and otel_qrun.py, the task loop for persistent
// workers.
//
//go:embed python/sitecustomize.py python/_otel_qrun_bootstrap.py python/otel_qrun.py
var pythonFS embed.FS

// PythonModule returns the source of otel_qrun.py, the Python twin of
// forkinit.Serve that the bootstrap puts on the workers' path.
func PythonModule() []byte {
	b, _ := pythonFS.ReadFile("python/otel_qrun.py") // embedded: cannot fail
	return b
}

// pythonSiteDir is where opentelemetry-instrument's sitecustomize lives; a
// PYTHONPATH entry ending with it means the SDK already starts in every
// Python process (as under an outer opentelemetry-instrument).
const pythonSiteDir = "opentelemetry/instrumentation/auto_instrumentation"

// pythonDirPrefix starts the name of the private directory of the
// bootstrap; a PYTHONPATH entry whose base name starts with it is the
// bootstrap of an outer otel-qrun.
const pythonDirPrefix = "otel-qrun-python-"

// Variables the Python bootstrap reads (besides every OTEL_* the distro
// reads, and qrun.EnvShutdownTimeout, which bounds each flush of a Python
// worker's SDK at os._exit, at SIGTERM and before a fork).
const (
	// EnvInstancePID names the process whose service.instance.id
	// OTEL_RESOURCE_ATTRIBUTES holds; a Python process that is not that
	// one (an exec'd descendant) takes an id of its own.
	EnvInstancePID = "QRUN_INSTANCE_PID"
)

// pythonCheckTimeout bounds the run of the interpreter that checks the
// distro.
const pythonCheckTimeout = 30 * time.Second

// pythonCheckScript imports what the bootstrap starts the SDK with and
// prints a JSON object: the versions of the distributions, and "error"
// when the import failed.
const pythonCheckScript = `import json, sys
out = {}
try:
    import opentelemetry.instrumentation.auto_instrumentation
except Exception as exc:
    out["error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    from importlib.metadata import version
except ImportError:
    version = None
for name in ("opentelemetry-sdk", "opentelemetry-instrumentation", "opentelemetry-distro"):
    try:
        out[name] = version(name)
    except Exception:
        out[name] = ""
out["python"] = sys.executable
sys.stdout.write(json.dumps(out))
`

// Python SDK versions from which the SDK does at fork what the bootstrap
// relies on, from the opentelemetry-python changelog.
var (
	pythonSDKForkThreads  = [2]int{1, 7}  // 1.7.0 (#2242): batch processors re-create their thread in the child
	pythonSDKForkResource = [2]int{1, 44} // 1.44.0 (#5280): providers refresh service.instance.id and process.pid in the child
)

// preparePython checks, by running the workers' interpreter once, that it
// imports the distro, and writes the bootstrap to a private directory.
func (p *Plan) preparePython(ctx context.Context, cfg Config) error {
	if why := pythonBootstrapped(cfg.Path, cfg.Argv, cfg.Environ); why != "" {
		p.note("python: already bootstrapped (%s): nothing added", why)
		return nil
	}
	python, err := p.interpreterOf(cfg, Python, "python3")
	if err != nil {
		return err
	}
	found, err := p.checkPython(ctx, python, cfg.Environ)
	if err != nil {
		return err
	}
	dir := filepath.Join(os.TempDir(), pythonDirPrefix+"XXXXXX")
	if !cfg.DryRun {
		if dir, err = p.writePython(); err != nil {
			return err
		}
	}
	p.pythonDir = dir
	p.note("python: %s imports opentelemetry-instrumentation %s (SDK %s, distro %s)",
		python, found["opentelemetry-instrumentation"], orUnknown(found["opentelemetry-sdk"]), orUnknown(found["opentelemetry-distro"]))
	p.note("python: PYTHONPATH = %s:%s:…, whose sitecustomize runs the application's next sitecustomize, then starts the distro as opentelemetry-instrument does (written at start, removed at exit); otel_qrun (the task loop) is importable there", dir, p.dir)
	if hasPythonSite(getenv(cfg.Environ, envPythonPath)) {
		p.note("python: PYTHONPATH holds opentelemetry-instrument's sitecustomize: it starts the SDK, the bootstrap does not start it again")
	}
	if cfg.PerTask {
		p.note("python: each task's process runs in the context of TRACEPARENT, TRACESTATE and BAGGAGE")
	} else {
		p.note("python: long-lived workers do not continue TRACEPARENT (their spans start new traces); otel_qrun.serve runs each task in its carrier's context")
	}
	at := "SIGTERM"
	if p.stopSignal != "" {
		at = "SIGTERM and " + p.stopSignal + " (" + qrun.EnvStopSignal + ")"
	}
	p.note("python: flush bounded by %s=%s at os._exit, at %s (before the program's own handler, if it has one) and in the parent before each fork", qrun.EnvShutdownTimeout, secondsText(p.shutdown), at)
	sdk := found["opentelemetry-sdk"]
	switch {
	case sdk == "":
		p.warn("python: the version of opentelemetry-sdk is unknown: forked children may share their parent's service.instance.id")
	case !versionAtLeast(sdk, pythonSDKForkThreads):
		p.warn("python: opentelemetry-sdk %s: forked children cannot export spans (the SDK re-creates its export thread after a fork from 1.7.0); upgrade it", sdk)
	case !versionAtLeast(sdk, pythonSDKForkResource):
		p.note("python: opentelemetry-sdk %s: a forked child's spans get its own service.instance.id from the bootstrap; its metrics keep its parent's (the SDK refreshes both from 1.44.0)", sdk)
	default:
		p.note("python: opentelemetry-sdk %s: a forked child gets its own service.instance.id from the SDK, copied to its OTEL_RESOURCE_ATTRIBUTES", sdk)
	}
	return nil
}

// checkPython runs python once in the working directory, with the workers'
// environment, to import the distro and read the versions.
func (p *Plan) checkPython(ctx context.Context, python string, environ []string) (map[string]string, error) {
	found, err := p.runCheck(ctx, pythonCheckTimeout, environ, "the OpenTelemetry distro", python, "-c", pythonCheckScript)
	if err != nil {
		return nil, err
	}
	if why := found["error"]; why != "" {
		return nil, fmt.Errorf("%w: %s cannot import opentelemetry.instrumentation.auto_instrumentation (%s); install it in the Python environment of the workers: %s (then opentelemetry-bootstrap -a install adds the instrumentations of the libraries installed there)",
			ErrUnavailable, python, why, PythonInstall)
	}
	return found, nil
}

// writePython writes the bootstrap to a new private directory, which Close
// removes.
func (p *Plan) writePython() (string, error) {
	dir, err := os.MkdirTemp("", pythonDirPrefix)
	if err != nil {
		return "", fmt.Errorf("python bootstrap: %w", err)
	}
	p.preloadDir = dir
	for _, name := range []string{"sitecustomize.py", "_otel_qrun_bootstrap.py", "otel_qrun.py"} {
		b, _ := pythonFS.ReadFile("python/" + name) // embedded: cannot fail
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", fmt.Errorf("python bootstrap: %w", err)
		}
	}
	return dir, nil
}

// applyPython puts the bootstrap's directory first on PYTHONPATH, then the
// working directory as opentelemetry-instrument does (so that an
// application run from its own executable imports its modules), then the
// worker's own entries; it sets QRUN_SHUTDOWN_TIMEOUT (and
// QRUN_STOP_SIGNAL, when stop_signal is not SIGTERM) and drops an
// inherited QRUN_INSTANCE_PID.
func (p *Plan) applyPython(path string, argv, env []string) []string {
	if p.pythonDir == "" || pythonBootstrapped(path, argv, env) != "" {
		return env
	}
	entries := []string{p.pythonDir}
	old := filepath.SplitList(getenv(env, envPythonPath))
	if !slices.Contains(old, p.dir) {
		entries = append(entries, p.dir)
	}
	entries = append(entries, old...)
	env = withEnv(env, envPythonPath, strings.Join(entries, string(os.PathListSeparator)))
	// The worker owns the id the launcher gave it, whatever process the
	// launcher itself was started from.
	env = withoutEnv(env, EnvInstancePID)
	if p.stopSignal != "" {
		env = withEnv(env, qrun.EnvStopSignal, p.stopSignal)
	} else {
		env = withoutEnv(env, qrun.EnvStopSignal)
	}
	return withEnv(env, qrun.EnvShutdownTimeout, secondsText(p.shutdown))
}

// pythonBootstrapped says why the command already starts the SDK: it is
// opentelemetry-instrument, runs its module, or PYTHONPATH holds the
// bootstrap of an outer otel-qrun. "" means it does not.
func pythonBootstrapped(path string, argv, env []string) string {
	if filepath.Base(path) == PythonWrapper || (len(argv) > 0 && filepath.Base(argv[0]) == PythonWrapper) {
		return "the command is " + PythonWrapper
	}
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] == "-m" && strings.HasPrefix(argv[i+1], "opentelemetry.instrumentation.auto_instrumentation") {
			return "the command runs " + argv[i+1]
		}
	}
	for _, entry := range filepath.SplitList(getenv(env, envPythonPath)) {
		if strings.HasPrefix(filepath.Base(entry), pythonDirPrefix) {
			return "PYTHONPATH holds otel-qrun's bootstrap " + entry
		}
	}
	return ""
}

// hasPythonSite reports whether a PYTHONPATH holds opentelemetry-instrument's
// sitecustomize directory.
func hasPythonSite(pythonPath string) bool {
	for _, entry := range filepath.SplitList(pythonPath) {
		if entry != "" && strings.HasSuffix(filepath.ToSlash(filepath.Clean(entry)), pythonSiteDir) {
			return true
		}
	}
	return false
}

// versionAtLeast reports whether a version "MAJOR.MINOR[.…]" is at least
// min; an unparsable one is not.
func versionAtLeast(v string, min [2]int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	digits := func(s string) (int, error) { // "45rc1" -> 45
		end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if end >= 0 {
			s = s[:end]
		}
		return strconv.Atoi(s)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := digits(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > min[0] || (major == min[0] && minor >= min[1])
}

// secondsText writes d as a number of seconds.
func secondsText(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}
