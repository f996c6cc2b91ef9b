package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// startSpec is what a start changes from a plain worker start.
type startSpec struct {
	ctx context.Context // carrier context of a per-task process; nil: a new worker span
	// env holds extra variables, each name once; starts of one kind give
	// the same names in the same order (see envTemplate).
	env []string
	// carrier is a task's own carrier when there is no propagator: it
	// replaces the inherited carrier variables.
	carrier []string
	stdin   *os.File // nil: stdinFD, else the launcher's stdin (one worker) or /dev/null
	// stdinFD, when hasStdinFD, is the descriptor the process gets as its
	// stdin (a per-task process's payload pipe).
	stdinFD    int
	hasStdinFD bool
	fd3        *os.File // task mode reply pipe
}

// startWith forks one process into the empty slot s.
func (r *supervisor) startWith(s *slot, reason Reason, spec startSpec) error {
	ctx, span := spec.ctx, trace.Span(nil)
	if ctx == nil {
		ctx, span = r.tel.workerSpan(r.ctx, r.l.path, s.index, reason)
	}
	req := r.spawnRequest(s, ctx, spec)
	t, err := r.spawn(req)
	if err != nil {
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "start failed")
			span.End()
		}
		return startError(s, req.path, err)
	}
	if span != nil {
		span.SetAttributes(attribute.Int("process.pid", t.pid))
		r.tel.workerStarted(r.ctx, reason)
	}
	r.started(s, t, span, reason, spec.fd3 != nil)
	return nil
}

// startError is the error of a start into s of path that failed with err.
func startError(s *slot, path string, err error) error {
	return fmt.Errorf("start worker %d: %s: %w", s.index, path, err)
}

// started records t, the tree of a process just started into s.
func (r *supervisor) started(s *slot, t *tree, span trace.Span, reason Reason, persistent bool) {
	r.serial++
	if r.serial == 1 && r.cfg.onStarted != nil {
		r.cfg.onStarted()
	}
	s.launched(&worker{serial: r.serial, pid: t.pid, tree: t, started: time.Now(), span: span}, persistent)
	r.byPid[t.pid] = s
	r.log.Debug("worker started", "worker", s.index, "pid", t.pid, "reason", reason)
}

// spawnRequest is the request of a start into s whose trace context is
// ctx: the command (after the bootstrap), its environment and its files.
func (r *supervisor) spawnRequest(s *slot, ctx context.Context, spec startSpec) spawnRequest {
	cfg := r.cfg
	env := r.envTemplate(len(spec.carrier) > 0, spec.env).build(ctx, cfg.propagator, WorkerIdentity{
		Cluster:    cfg.cluster,
		Index:      s.index,
		Workers:    r.activeCount(),
		InstanceID: newInstanceID(),
	}, spec.carrier, spec.env)
	var stdinFD uintptr
	ctty := -1
	switch {
	case spec.hasStdinFD:
		stdinFD = uintptr(spec.stdinFD)
	case spec.stdin != nil:
		stdinFD = spec.stdin.Fd()
	default:
		stdinFD = r.devNull.Fd()
		if cfg.workers == 1 && s.index == 0 && usable(cfg.stdin) {
			stdinFD = cfg.stdin.Fd()
			if foregroundTTY(cfg.stdin) {
				ctty = int(stdinFD)
			}
		}
	}
	if !r.stdio {
		// Once per run: whether the launcher's stdout and stderr can be
		// handed on does not change.
		r.stdio, r.stdoutFD, r.stderrFD = true, fdOr(cfg.stdout, r.devNull), fdOr(cfg.stderr, r.devNull)
	}
	files := []uintptr{stdinFD, r.stdoutFD, r.stderrFD}
	if spec.fd3 != nil {
		files = append(files, spec.fd3.Fd())
	}
	ex := Exec{Path: r.l.path, Argv: r.l.argv, Env: env}
	if cfg.bootstrap != nil {
		ex = cfg.bootstrap(ex)
	}
	return spawnRequest{path: ex.Path, argv: ex.Argv, env: ex.Env, files: files, cpus: r.cpusFor(), ctty: ctty}
}

// envTemplate returns the run's environment template for starts with
// carrier stripping strip and the extra variables extra, made at the first
// such start.
func (r *supervisor) envTemplate(strip bool, extra []string) *envTemplate {
	for _, t := range r.envs {
		if t.serves(strip, extra) {
			return t
		}
	}
	names := make([]string, len(extra))
	for i, kv := range extra {
		names[i], _, _ = strings.Cut(kv, "=")
	}
	t := newEnvTemplate(r.cfg.propagator, r.cfg.environ, strip, names)
	r.envs = append(r.envs, t)
	return t
}

// cpusFor picks the CPUs of the next worker start, round-robin over the CPUs
// the launcher may use.
func (r *supervisor) cpusFor() []int {
	n := r.cfg.cpuAffinity
	if n == 0 || len(r.cpus) == 0 {
		return nil
	}
	if n >= len(r.cpus) {
		return r.cpus
	}
	out := make([]int, n)
	for i := range out {
		out[i] = r.cpus[(r.nextPlace+i)%len(r.cpus)]
	}
	r.nextPlace = (r.nextPlace + n) % len(r.cpus)
	return out
}

func usable(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := f.Stat()
	return err == nil
}

func fdOr(f, fallback *os.File) uintptr {
	if usable(f) {
		return f.Fd()
	}
	return fallback.Fd()
}

// spawnStatus maps a fork/exec error to the status a shell would give.
func spawnStatus(err error) int {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return ExitNotFound
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC),
		errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EPERM):
		return ExitNotExecutable
	}
	return 1
}

// startOrFail starts a worker; a start that fails counts as a worker that
// failed at once, under the restart policy.
func (r *supervisor) startOrFail(s *slot, reason Reason) {
	err := r.mode.startWorker(s, reason)
	if err == nil {
		return
	}
	r.log.Error("cannot start worker", "worker", s.index, "error", err)
	if policy, ok := r.mode.policy(); ok {
		r.applyPolicy(s, policy, spawnStatus(err), 0)
	}
}
