package launcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Exit statuses of the launcher that are not a worker's own.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// Errors returned by [New] when the command cannot be run. Callers map them to
// exit statuses 127 and 126.
var (
	ErrNotFound      = errors.New("command not found")
	ErrNotExecutable = errors.New("command not executable")
)

// Launcher runs and supervises the workers of one command. Create it with
// [New]; call Run once.
type Launcher struct {
	cfg  config
	path string // resolved executable
	argv []string

	tracer    trace.Tracer
	active    metric.Int64UpDownCounter
	starts    metric.Int64Counter
	exits     metric.Int64Counter
	devNull   *os.File
	cpus      []int
	nextPlace int // round-robin position for cpu affinity
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
	l.tracer = cfg.tracer.Tracer("github.com/otel-qrun/otel-qrun/launcher")
	meter := cfg.meter.Meter("github.com/otel-qrun/otel-qrun/launcher")
	// Instrument creation only fails for invalid names; these are constants.
	l.active, _ = meter.Int64UpDownCounter("qrun.workers.active",
		metric.WithDescription("Worker processes running."), metric.WithUnit("{process}"))
	l.starts, _ = meter.Int64Counter("qrun.worker.starts",
		metric.WithDescription("Worker processes started, by reason."), metric.WithUnit("{process}"))
	l.exits, _ = meter.Int64Counter("qrun.worker.exits",
		metric.WithDescription("Worker processes that exited, by outcome."), metric.WithUnit("{process}"))
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
// exists but cannot be executed (a directory, no execute bit, stat error);
// a non-executable match is reported only when no later entry is
// executable. The launcher's exit statuses for these errors are
// [ExitNotFound] and [ExitNotExecutable].
func LookPath(file, pathList string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", err
		}
		return file, nil
	}
	var notExec error
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrNotExecutable) && notExec == nil {
			notExec = err
		}
	}
	if notExec != nil {
		return "", notExec
	}
	return "", fmt.Errorf("%s: %w in PATH", file, ErrNotFound)
}

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", p, ErrNotFound)
		}
		return fmt.Errorf("%s: %w: %v", p, ErrNotExecutable, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s: %w: is a directory", p, ErrNotExecutable)
	}
	if st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: %w: permission denied", p, ErrNotExecutable)
	}
	return nil
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

// cpusFor picks the CPUs of the next worker start, round-robin over the CPUs
// the launcher may use.
func (l *Launcher) cpusFor() []int {
	n := l.cfg.cpuAffinity
	if n == 0 || len(l.cpus) == 0 {
		return nil
	}
	if n >= len(l.cpus) {
		return l.cpus
	}
	out := make([]int, n)
	for i := range out {
		out[i] = l.cpus[(l.nextPlace+i)%len(l.cpus)]
	}
	l.nextPlace = (l.nextPlace + n) % len(l.cpus)
	return out
}

// newInstanceID returns a fresh service.instance.id.
func newInstanceID() string { return uuid.NewString() }

// workerSpan starts the INTERNAL span whose context a worker receives.
func (l *Launcher) workerSpan(ctx context.Context, index int, reason Reason) (context.Context, trace.Span) {
	return l.tracer.Start(ctx, "run "+filepath.Base(l.path),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("process.executable.name", filepath.Base(l.path)),
			attribute.Int(AttrWorkerIndex, index),
			attribute.String("qrun.worker.start.reason", string(reason)),
		))
}

func endWorkerSpan(span trace.Span, ws syscall.WaitStatus, failed bool) {
	span.SetAttributes(attribute.Int("process.exit.code", exitStatus(ws)))
	if ws.Signaled() {
		span.SetAttributes(attribute.String("process.exit.signal", signalName(ws.Signal())))
	}
	if failed {
		span.SetStatus(codes.Error, describeStatus(ws))
	}
	span.End()
}

func outcome(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "signal"
	case ws.ExitStatus() == 0:
		return "ok"
	}
	return "error"
}
