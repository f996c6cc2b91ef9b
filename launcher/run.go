package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// slot is one worker position: QRUN_WORKER_INDEX, stable across restarts.
type slot struct {
	index    int
	w        *worker
	quick    int    // exits in a row before min_uptime: drives the backoff
	failures int    // failures in a row before min_uptime: drives the give-up
	done     bool   // exited and is not restarted
	retiring bool   // scaled down: removed when its worker exits
	replace  Reason // stopped to be replaced (max_rss, recycle, timeout): start again for this reason
	pending  bool   // a restart is scheduled
	gen      int    // invalidates scheduled restarts
}

// worker is one running process, the leader of its own process group.
type worker struct {
	pid      int
	tree     *tree // the worker and every descendant
	started  time.Time
	span     trace.Span
	stopping bool // the stop signal was sent
	killed   bool // the launcher sent SIGKILL
	timer    *time.Timer
	in       *os.File // task mode, persistent: the worker's stdin
	cur      *attempt // task mode: the attempt in flight
	done     int      // task mode, persistent: tasks answered
}

type timerEvent struct {
	slot  *slot // restart due
	gen   int
	pid   int      // stop grace over: kill the group
	att   *attempt // task timeout
	drain bool     // task mode: the time to finish tasks in flight is over
}

// run is the state of one Run call. It is owned by the goroutine in Run;
// other goroutines talk to it only through exitCh and timers.
type run struct {
	l          *Launcher
	ctx        context.Context
	slots      []*slot
	byPid      map[int]*slot
	timers     chan timerEvent
	quit       chan struct{}
	sp         *spawner
	rp         *reaper
	stopping   bool
	requested  bool
	failure    *int // status that ends the launcher: never-policy failure or give-up
	stopStatus *int // first unclean exit after a requested stop
	lingering  sync.WaitGroup
	rssWarned  bool
	outClosed  bool     // the result stream's reader went away: see outputClosed
	tasks      *taskRun // nil outside task mode
}

// Run starts the workers and supervises them until they are all done, a
// stop is requested (a SIGTERM, SIGINT or SIGQUIT on signals, or ctx being
// canceled), or the restart policy gives up. It returns the launcher's exit
// status (DESIGN section 4). Spans of worker starts are children of the span
// context in ctx. signals may be nil; Run interprets what arrives on it:
// HUP, USR1, USR2 and WINCH are forwarded to every worker's process group,
// TTIN and TTOU add and remove a worker. An error is returned only when the
// launcher itself could not work (for example, /dev/null could not be
// opened); the status is then 1.
func (l *Launcher) Run(ctx context.Context, signals <-chan os.Signal) (int, error) {
	log := l.cfg.logger
	if platformFeatures != "" {
		log.Warn("running with reduced supervision", "reason", platformFeatures)
	}
	if l.cfg.subreaper {
		if err := setSubreaper(); err != nil {
			log.Warn("cannot become a child subreaper; orphans are not reaped", "error", err)
		}
	}
	if l.cfg.cpuAffinity > 0 {
		cpus, err := availableCPUs()
		if err != nil {
			log.Warn("cpu_affinity is ignored", "error", err)
		}
		l.cpus = cpus
	}
	var err error
	l.devNull, err = os.Open(os.DevNull)
	if err != nil {
		return 1, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer l.devNull.Close()

	exitCh := make(chan exitEvent)
	r := &run{
		l:      l,
		ctx:    ctx,
		byPid:  make(map[int]*slot),
		timers: make(chan timerEvent),
		quit:   make(chan struct{}),
	}
	r.rp = newReaper(l.cfg.subreaper, exitCh, log)
	r.sp = newSpawner(r.rp, &l.cfg)
	defer func() {
		close(r.quit)
		r.lingering.Wait()
		r.sp.close()
		r.rp.close()
	}()

	var reads <-chan readEvent
	var replies <-chan replyEvent
	if l.cfg.taskIn != nil {
		r.tasks = newTaskRun(r)
		reads, replies = r.tasks.reads, r.tasks.replies
	}
	for i := 0; i < l.cfg.workers; i++ {
		r.slots = append(r.slots, &slot{index: i})
	}
	for _, s := range append([]*slot(nil), r.slots...) {
		if !r.stopping && !l.cfg.perTask {
			r.startOrFail(s, ReasonInitial)
		}
	}
	var guard <-chan time.Time
	if l.cfg.maxRSS > 0 {
		t := time.NewTicker(l.cfg.guardCycle)
		defer t.Stop()
		guard = t.C
	}
	done := ctx.Done()
	for !r.finished() {
		var flush <-chan struct{}
		if r.tasks != nil && r.tasks.pending() {
			flush = closed // ready at once: taken when nothing else is
		}
		select {
		case <-flush:
			r.tasks.flush()
		case ev := <-exitCh:
			r.onExit(ev)
		case sig := <-signals:
			r.onSignal(sig)
		case <-done:
			done = nil
			log.Info("stopping workers", "reason", context.Cause(ctx))
			r.requestStop()
		case ev := <-reads:
			r.tasks.onRead(ev)
		case ev := <-replies:
			r.tasks.onReply(ev)
		case ev := <-r.timers:
			r.onTimer(ev)
		case <-guard:
			r.checkMemory()
		}
	}
	if r.tasks != nil {
		r.tasks.flush()
	}
	return r.status(), nil
}

// closed is a channel that is always ready.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// finished reports whether no worker runs and none is due to start (and,
// in task mode, the launcher is stopping: per-task slots are often empty).
func (r *run) finished() bool {
	if r.tasks != nil && !r.stopping {
		return false
	}
	for _, s := range r.slots {
		if s.w != nil || s.pending {
			return false
		}
	}
	return true
}

func (r *run) status() int {
	if r.outClosed {
		return ExitOutputClosed
	}
	if r.tasks != nil {
		return r.tasks.status()
	}
	switch {
	case r.failure != nil:
		return *r.failure
	case r.stopStatus != nil:
		return *r.stopStatus
	}
	return 0
}

// activeCount is the number of slots that count as workers: not done, not
// being scaled away.
func (r *run) activeCount() int {
	n := 0
	for _, s := range r.slots {
		if !s.done && !s.retiring {
			n++
		}
	}
	return n
}

// startSpec is what a start changes from a plain worker start.
type startSpec struct {
	ctx   context.Context // carrier context of a per-task process; nil: a new worker span
	env   []string        // extra variables
	stdin *os.File        // nil: the launcher's stdin (one worker) or /dev/null
	fd3   *os.File        // task mode reply pipe
}

// start forks one worker into s.
func (r *run) start(s *slot, reason Reason) error { return r.startWith(s, reason, startSpec{}) }

func (r *run) startWith(s *slot, reason Reason, spec startSpec) error {
	l := r.l
	ctx, span := spec.ctx, trace.Span(nil)
	if ctx == nil {
		ctx, span = l.workerSpan(r.ctx, s.index, reason)
	}
	env := WorkerEnv(ctx, l.cfg.propagator, l.cfg.environ, WorkerIdentity{
		Cluster:    l.cfg.cluster,
		Index:      s.index,
		Workers:    r.activeCount(),
		InstanceID: newInstanceID(),
	})
	env = append(env, spec.env...)
	stdin, ctty := spec.stdin, -1
	if stdin == nil {
		stdin = l.devNull
		if l.cfg.workers == 1 && s.index == 0 && usable(l.cfg.stdin) {
			stdin = l.cfg.stdin
			if foregroundTTY(stdin) {
				ctty = int(stdin.Fd())
			}
		}
	}
	files := []uintptr{stdin.Fd(), fdOr(l.cfg.stdout, l.devNull), fdOr(l.cfg.stderr, l.devNull)}
	if spec.fd3 != nil {
		files = append(files, spec.fd3.Fd())
	}
	ex := Exec{Path: l.path, Argv: l.argv, Env: env}
	if l.cfg.bootstrap != nil {
		ex = l.cfg.bootstrap(ex)
	}
	t, err := r.sp.start(spawnRequest{path: ex.Path, argv: ex.Argv, env: ex.Env, files: files, cpus: l.cpusFor(), ctty: ctty})
	if err != nil {
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "start failed")
			span.End()
		}
		return fmt.Errorf("start worker %d: %s: %w", s.index, ex.Path, err)
	}
	pid := t.pid
	if span != nil {
		span.SetAttributes(attribute.Int("process.pid", pid))
		l.active.Add(r.ctx, 1)
		l.starts.Add(r.ctx, 1, metric.WithAttributes(attribute.String("reason", string(reason))))
	}
	s.w = &worker{pid: pid, tree: t, started: time.Now(), span: span}
	r.byPid[pid] = s
	l.cfg.logger.Debug("worker started", "worker", s.index, "pid", pid, "reason", reason)
	return nil
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
func (r *run) startOrFail(s *slot, reason Reason) {
	var err error
	if r.tasks != nil {
		err = r.tasks.startPersistent(s, reason)
	} else {
		err = r.start(s, reason)
	}
	if err == nil {
		return
	}
	r.l.cfg.logger.Error("cannot start worker", "worker", s.index, "error", err)
	r.afterExit(s, spawnStatus(err), 0)
}

// requestStop is a stop the user asked for; in task mode the tasks in
// flight may finish first.
func (r *run) requestStop() {
	if r.tasks != nil {
		r.tasks.drain()
		return
	}
	r.beginStop(true)
}

func (r *run) onExit(ev exitEvent) {
	s := r.byPid[ev.pid]
	if s == nil {
		return
	}
	delete(r.byPid, ev.pid)
	w := s.w
	s.w = nil
	if w.timer != nil {
		w.timer.Stop()
	}
	l := r.l
	status := exitStatus(ev.status)
	uptime := time.Since(w.started)
	clean := status == 0 || (w.stopping && r.stoppedCleanly(ev.status))
	if w.span != nil {
		endWorkerSpan(w.span, ev.status, !clean)
		l.active.Add(r.ctx, -1)
		l.exits.Add(r.ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome(ev.status))))
	}
	r.logExit(s, w, ev.status, uptime)
	r.drainTree(w)
	if r.tasks != nil && r.tasks.workerExited(s, w, ev.status, uptime) {
		return
	}

	switch {
	case r.stopping:
		if r.requested && !r.stoppedCleanly(ev.status) && r.stopStatus == nil {
			r.stopStatus = &status
		}
		r.remove(s)
	case s.retiring:
		r.remove(s)
	case s.replace != "":
		reason := s.replace
		s.replace = ""
		r.startOrFail(s, reason)
	default:
		r.afterExit(s, status, uptime)
	}
}

// stoppedCleanly reports whether a worker asked to stop ended as a clean
// stop: exit 0, death by the stop signal, or exit 128+stop signal.
func (r *run) stoppedCleanly(ws syscall.WaitStatus) bool {
	sig := r.l.cfg.stopSignal
	return exitStatus(ws) == 0 || (ws.Signaled() && ws.Signal() == sig) || ws.ExitStatus() == 128+int(sig)
}

func (r *run) logExit(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) {
	log := r.l.cfg.logger
	args := []any{"worker", s.index, "pid", w.pid, "status", describeStatus(ws), "uptime", uptime.Round(time.Millisecond)}
	switch {
	case w.span == nil: // a per-task process: its task result says how it went
		log.Debug("task process exited", args...)
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && !w.killed:
		log.Warn("worker killed by SIGKILL, not by otel-qrun: it may have run out of memory (check the kernel log or the container's memory limit)", args...)
	case exitStatus(ws) != 0 && !w.stopping:
		log.Warn("worker failed", args...)
	default:
		log.Info("worker exited", args...)
	}
}

// afterExit applies the restart policy to a slot whose worker ended (or
// could not start) outside a stop.
func (r *run) afterExit(s *slot, status int, uptime time.Duration) {
	policy := r.l.cfg.restart
	if r.tasks != nil {
		policy = RestartAlways // task workers are always replaced
	}
	r.applyPolicy(s, policy, status, uptime)
}

func (r *run) applyPolicy(s *slot, policy RestartPolicy, status int, uptime time.Duration) {
	cfg := &r.l.cfg
	failed := status != 0
	if uptime >= cfg.minUptime {
		s.quick, s.failures = 0, 0
	}
	switch {
	case policy == RestartNever && failed:
		r.fail(status)
		return
	case policy != RestartAlways && !failed:
		s.done = true
		return
	}
	quick := uptime < cfg.minUptime
	if quick && failed {
		if s.failures >= cfg.maxRestarts {
			cfg.logger.Error(fmt.Sprintf("worker %d keeps failing: %d restarts in a row each failed before min_uptime (%s); giving up",
				s.index, s.failures, cfg.minUptime), "last_status", status)
			r.fail(status)
			return
		}
		s.failures++
	}
	var delay time.Duration
	if quick {
		s.quick++
		delay = r.l.backoff(s.quick)
	}
	r.scheduleRestart(s, delay)
}

func (r *run) scheduleRestart(s *slot, delay time.Duration) {
	s.pending = true
	s.gen++
	ev := timerEvent{slot: s, gen: s.gen}
	r.l.cfg.logger.Debug("restart scheduled", "worker", s.index, "delay", delay.Round(time.Millisecond))
	time.AfterFunc(delay, func() { r.deliver(ev) })
}

// deliver hands a timer event to the loop, or drops it once Run has ended.
func (r *run) deliver(ev timerEvent) {
	select {
	case r.timers <- ev:
	case <-r.quit:
	}
}

func (r *run) onTimer(ev timerEvent) {
	switch {
	case ev.att != nil:
		r.tasks.onTimeout(ev.att)
		return
	case ev.drain:
		if !r.stopping {
			r.l.cfg.logger.Warn("tasks still in flight after stop_grace; stopping the workers")
			r.beginStop(true)
		}
		return
	}
	if ev.slot != nil {
		s := ev.slot
		if !s.pending || s.gen != ev.gen || r.stopping {
			return
		}
		s.pending = false
		r.startOrFail(s, ReasonRestart)
		return
	}
	s := r.byPid[ev.pid]
	if s == nil || s.w == nil {
		return
	}
	r.l.cfg.logger.Warn("worker did not stop within stop_grace; killing its process tree",
		"worker", s.index, "pid", ev.pid, "stop_grace", r.l.cfg.stopGrace)
	r.kill(s.w)
}

func (r *run) kill(w *worker) {
	w.killed = true
	if err := w.tree.kill(); err != nil {
		r.l.cfg.logger.Error("kill process tree", "pid", w.pid, "error", err)
	}
}

// fail ends the launcher with status after stopping the other workers.
func (r *run) fail(status int) {
	if r.failure == nil {
		r.failure = &status
	}
	r.beginStop(false)
}

// beginStop stops every worker gracefully; requested is true for a stop the
// user asked for (signal or context), whose clean exits give status 0.
func (r *run) beginStop(requested bool) {
	if r.stopping {
		return
	}
	r.stopping, r.requested = true, requested
	if r.tasks != nil {
		r.tasks.stopping()
	}
	for _, s := range append([]*slot(nil), r.slots...) {
		if s.pending {
			s.pending = false
			s.gen++
		}
		if s.w != nil {
			r.stopWorker(s)
		} else {
			r.remove(s)
		}
	}
}

// stopWorker sends the stop signal to the worker's tree and arms the kill.
func (r *run) stopWorker(s *slot) {
	w := s.w
	if w.stopping {
		return
	}
	w.stopping = true
	if err := w.tree.stop(r.l.cfg.stopSignal, r.l.cfg.stopGrace); err != nil {
		r.l.cfg.logger.Error("signal process tree", "pid", w.pid, "error", err)
	}
	ev := timerEvent{pid: w.pid}
	w.timer = time.AfterFunc(r.l.cfg.stopGrace, func() { r.deliver(ev) })
}

// remove drops a slot that will not run again and has no worker.
func (r *run) remove(s *slot) {
	if s.w != nil {
		return
	}
	for i, x := range r.slots {
		if x == s {
			r.slots = append(r.slots[:i], r.slots[i+1:]...)
			return
		}
	}
}

func (r *run) onSignal(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	log := r.l.cfg.logger
	switch s {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		if r.stopping {
			log.Warn("received " + signalName(s) + " during the stop: killing every worker now")
			for _, sl := range r.slots {
				if sl.w != nil {
					r.kill(sl.w)
				}
			}
			return
		}
		log.Info("received " + signalName(s) + ": stopping workers")
		r.requestStop()
	case syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH:
		for _, sl := range r.slots {
			if sl.w != nil {
				if err := sl.w.tree.forward(s); err != nil {
					log.Error("forward signal", "signal", signalName(s), "pid", sl.w.pid, "error", err)
				}
			}
		}
	case syscall.SIGTTIN:
		r.scaleUp()
	case syscall.SIGTTOU:
		r.scaleDown()
	default:
		log.Debug("ignored signal", "signal", signalName(s))
	}
}

func (r *run) scaleUp() {
	if r.stopping {
		return
	}
	used := make(map[int]bool, len(r.slots))
	for _, s := range r.slots {
		used[s.index] = true
	}
	index := 0
	for used[index] {
		index++
	}
	s := &slot{index: index}
	r.slots = append(r.slots, s)
	sort.Slice(r.slots, func(i, j int) bool { return r.slots[i].index < r.slots[j].index })
	r.l.cfg.logger.Info("adding a worker", "worker", index, "workers", r.activeCount())
	if r.tasks != nil && r.l.cfg.perTask {
		r.tasks.dispatch()
		return
	}
	r.startOrFail(s, ReasonScale)
}

func (r *run) scaleDown() {
	if r.stopping {
		return
	}
	if r.activeCount() <= 1 {
		r.l.cfg.logger.Info("not removing a worker: at least one must run")
		return
	}
	for i := len(r.slots) - 1; i >= 0; i-- {
		s := r.slots[i]
		if s.done || s.retiring {
			continue
		}
		s.retiring = true
		r.l.cfg.logger.Info("removing a worker", "worker", s.index, "workers", r.activeCount())
		if s.pending {
			s.pending = false
			s.gen++
		}
		if s.w != nil {
			r.stopWorker(s)
		} else {
			r.remove(s)
		}
		return
	}
}

// checkMemory recycles workers whose process tree exceeds max_rss.
func (r *run) checkMemory() {
	var ws []*worker
	for _, s := range r.slots {
		if s.w != nil && !s.w.stopping {
			ws = append(ws, s.w)
		}
	}
	if len(ws) == 0 {
		return
	}
	rss, err := treesRSS(ws)
	if err != nil {
		if !r.rssWarned {
			r.rssWarned = true
			r.l.cfg.logger.Warn("max_rss is not enforced", "error", err)
		}
		return
	}
	for _, s := range r.slots {
		if s.w == nil || s.w.stopping {
			continue
		}
		if kib := rss[s.w.pid]; kib > r.l.cfg.maxRSS {
			r.l.cfg.logger.Warn("worker exceeds max_rss: replacing it", "worker", s.index, "pid", s.w.pid,
				"rss_kib", kib, "max_rss_kib", r.l.cfg.maxRSS)
			s.replace = ReasonRecycle
			r.stopWorker(s)
		}
	}
}
