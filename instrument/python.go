package instrument

import (
	"fmt"
	"path/filepath"
	"strings"
)

// pythonSiteDir is where opentelemetry-instrument's sitecustomize lives; a
// PYTHONPATH entry ending with it means the SDK already starts in every
// Python process (as under an outer opentelemetry-instrument).
const pythonSiteDir = "opentelemetry/instrumentation/auto_instrumentation"

// preparePython finds opentelemetry-instrument: beside the command (a
// virtualenv's bin/ holds both), beside the interpreter of the command's
// "#!" line, then on PATH.
func (p *Plan) preparePython(cfg Config) error {
	if why := pythonBootstrapped(cfg.Path, cfg.Argv, cfg.Environ); why != "" {
		p.note("python: already bootstrapped (%s): nothing added", why)
		return nil
	}
	type place struct{ dir, what string }
	beside := []place{{filepath.Dir(p.abs(cfg.Path)), "the command"}}
	if interp := interpreter(p.abs(cfg.Path), cfg.Environ, p.dir); modeOf(filepath.Base(interp)) == Python {
		if d := filepath.Dir(p.abs(interp)); d != beside[0].dir {
			beside = append(beside, place{d, "its interpreter " + interp})
		}
	}
	var dirs []string
	for _, b := range beside {
		if w := filepath.Join(b.dir, PythonWrapper); isExecutable(w) {
			p.wrapper = w
			p.note("python: run through %s, found beside %s", w, b.what)
			return nil
		}
		dirs = append(dirs, b.dir)
	}
	if w, ok := lookPath(PythonWrapper, getenv(cfg.Environ, "PATH"), p.dir); ok {
		p.wrapper = p.abs(w)
		p.note("python: run through %s, found on PATH", p.wrapper)
		return nil
	}
	return fmt.Errorf("%w: %s is not installed: it is neither in %s nor on PATH; install it in the Python environment of the workers: %s (then opentelemetry-bootstrap -a install adds the instrumentations of the libraries installed there)",
		ErrUnavailable, PythonWrapper, strings.Join(dirs, " nor in "), PythonInstall)
}

// applyPython runs the command through opentelemetry-instrument, which
// starts the SDK in the worker's own interpreter after the exec. The
// interpreter is passed by its resolved path so that the wrapper runs the
// very executable the command names.
func (p *Plan) applyPython(path string, argv, env []string) (string, []string, []string) {
	if p.wrapper == "" || pythonBootstrapped(path, argv, env) != "" {
		return path, argv, env
	}
	out := make([]string, 0, len(argv)+1)
	out = append(out, p.wrapper, path)
	out = append(out, argv[1:]...)
	return p.wrapper, out, env
}

// pythonBootstrapped says why the command already starts the SDK: it is
// opentelemetry-instrument, runs its module, or PYTHONPATH holds its
// sitecustomize directory. "" means it does not.
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
		if entry != "" && strings.HasSuffix(filepath.ToSlash(filepath.Clean(entry)), pythonSiteDir) {
			return "PYTHONPATH holds " + entry
		}
	}
	return ""
}
