package launcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/otel-qrun/otel-qrun/internal/execpath"
)

// Exit statuses of the launcher that are not a worker's own.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// Errors returned by [New] when the command cannot be run. Callers map them to
// exit statuses 127 and 126.
var (
	ErrNotFound      = execpath.ErrNotFound
	ErrNotExecutable = execpath.ErrNotExecutable
)

// Launcher runs and supervises the workers of one command. Create it with
// [New]; call Run once.
type Launcher struct {
	cfg  config
	path string // resolved executable
	argv []string

	tel *telemetry
}

// New checks the options and resolves argv[0] through the PATH of the
// worker environment (no shell is involved; argv is executed exactly). It
// returns an error wrapping [ErrNotFound] or [ErrNotExecutable] when the
// command cannot be run.
func New(argv []string, opts ...Option) (*Launcher, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no command given")
	}
	path, err := LookPath(argv[0], getenv(cfg.environ, "PATH"))
	if err != nil {
		return nil, err
	}
	l := &Launcher{cfg: cfg, path: path, argv: append([]string(nil), argv...)}
	l.tel = newTelemetry(&l.cfg)
	return l, nil
}

// Path is the resolved executable that workers run.
func (l *Launcher) Path() string { return l.path }

// LookPath resolves file as execvp(3) does, against pathList (a PATH
// value: directories separated by ':', an empty entry meaning the current
// directory) instead of the launcher's own PATH, so a caller finds the
// executable exactly as a worker with that PATH would. A file containing a
// '/' is used as given. It returns the path, or an error wrapping
// [ErrNotFound] when no entry exists or [ErrNotExecutable] when one
// exists but cannot be executed (a directory or another file that is not a
// regular file, no execute bit, a stat error);
// a non-executable match is reported only when no later entry is
// executable. The launcher's exit statuses for these errors are
// [ExitNotFound] and [ExitNotExecutable].
func LookPath(file, pathList string) (string, error) {
	return execpath.Find(file, pathList, "")
}

// exitStatus turns a wait status into a shell-style exit status.
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describeStatus(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + signalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// backoff returns the delay before restart number n (1-based) of a slot.
func (l *Launcher) backoff(n int) time.Duration {
	d := l.cfg.backoffBase
	for i := 1; i < n && d < l.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, l.cfg.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// newInstanceID returns a fresh service.instance.id.
func newInstanceID() string { return uuid.NewString() }
