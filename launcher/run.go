package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// run is the state of one Run call. It is owned by the goroutine in Run;
// other goroutines talk to it only through channels: process exits, signals,
// task reads, worker replies, the result writer, and timers, which hand a
// function to the loop (see after).
type run struct {
	l    *Launcher
	cfg  *config
	log  *slog.Logger
	tel  *telemetry
	ctx  context.Context
	mode mode

	slots  []*slot
	byPid  map[int]*slot
	events chan func() // timer callbacks, run on the loop
	quit   chan struct{}
	sp     *spawner
	rp     *reaper
	spawn  func(spawnRequest) (int, error) // forks a process: sp.start
	serial uint64

	devNull   *os.File
	cpus      []int
	nextPlace int // round-robin position for cpu affinity

	stopAsked  bool // a stop was requested (signal or context): a second one kills
	killNow    bool // a second stop signal: kill every worker
	stopping   bool // the workers are being stopped; none is started again
	requested  bool // the stop is one the user asked for: clean exits give 0
	failure    *int // status that ends the launcher: never-policy failure or give-up
	stopStatus *int // first unclean exit after a requested stop
	lingering  sync.WaitGroup
	rssWarned  bool
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
	cfg := &l.cfg
	if platformFeatures != "" {
		cfg.logger.Warn("running with reduced supervision", "reason", platformFeatures)
	}
	if cfg.subreaper {
		if err := setSubreaper(); err != nil {
			cfg.logger.Warn("cannot become a child subreaper; orphans are not reaped", "error", err)
		}
	}
	r, err := newRun(l, ctx)
	if err != nil {
		return 1, err
	}
	defer r.devNull.Close()
	exitCh := make(chan exitEvent)
	r.rp = newReaper(cfg.subreaper, exitCh, r.log)
	r.sp = newSpawner(r.rp, r.log)
	r.spawn = r.sp.start
	defer func() {
		close(r.quit)
		r.sp.close()
		r.lingering.Wait()
		r.rp.close()
	}()
	r.begin()
	var guard <-chan time.Time
	if cfg.maxRSS > 0 {
		t := time.NewTicker(cfg.guardCycle)
		defer t.Stop()
		guard = t.C
	}
	done := ctx.Done()
	r.settle()
	for !r.finished() {
		tc := r.tasks.channels()
		select {
		case ev := <-exitCh:
			r.onExit(ev)
		case sig := <-signals:
			r.onSignal(sig)
		case <-done:
			done = nil
			r.log.Info("stopping workers", "reason", context.Cause(ctx))
			r.requestStop()
		case f := <-r.events:
			f()
		case <-guard:
			r.checkMemory()
		case ev := <-tc.reads:
			r.tasks.onRead(ev)
		case <-tc.drained:
			r.tasks.onDrained()
		case ev := <-tc.replies:
			r.mode.(*persistentMode).onReply(ev)
		case tc.toWriter <- tc.batch:
			r.tasks.out.sent()
		case err := <-tc.written:
			r.tasks.out.onWritten(err)
		}
		r.settle()
	}
	if r.tasks != nil {
		r.tasks.out.finish(signals)
	}
	return r.status(), nil
}

// newRun prepares a run of l: its files and CPUs; begin picks the mode.
func newRun(l *Launcher, ctx context.Context) (*run, error) {
	cfg := &l.cfg
	r := &run{
		l: l, cfg: cfg, log: cfg.logger, tel: l.tel, ctx: ctx,
		byPid:  make(map[int]*slot),
		events: make(chan func()),
		quit:   make(chan struct{}),
	}
	if cfg.cpuAffinity > 0 {
		cpus, err := availableCPUs()
		if err != nil {
			r.log.Warn("cpu_affinity is ignored", "error", err)
		}
		r.cpus = cpus
	}
	var err error
	r.devNull, err = os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return r, nil
}

// begin picks the mode (and starts task mode's input and output) and
// creates the slots; the first settle starts their workers.
func (r *run) begin() {
	cfg := r.cfg
	switch {
	case cfg.taskIn == nil:
		r.mode = plainMode{r}
	case cfg.perTask:
		r.tasks = newTaskRun(r)
		r.mode = perTaskMode{r}
	default:
		r.tasks = newTaskRun(r)
		r.mode = &persistentMode{r: r}
	}
	for i := 0; i < cfg.workers; i++ {
		s := &slot{index: i}
		if r.mode.startsWorkers() {
			s.start = ReasonInitial
		}
		r.slots = append(r.slots, s)
	}
}

// settle is the one decision point: after every event the loop calls it,
// and it decides, in this order, (1) which workers stop or start (a worker
// to replace stops before any task could go to it; an empty slot that is
// due gets its worker), (2) which queued tasks go to which free slot, and
// (3) whether the run is over. No event handler starts, dispatches or
// finishes on its own.
func (r *run) settle() {
	for _, s := range append([]*slot(nil), r.slots...) {
		w := s.w
		switch {
		case w != nil && s.state != slotStopping && (w.stopNow || (len(s.inflight) == 0 && (w.replace != "" || s.retiring))):
			r.stopWorker(s, !w.stopNow)
		case w == nil && s.retiring:
			r.remove(s)
		case w == nil && s.start != "" && !s.pending && !r.stopping:
			reason := s.start
			s.start = ""
			r.startOrFail(s, reason)
		}
	}
	if r.tasks != nil {
		r.tasks.dispatch()
	}
	r.decideStop()
}

// decideStop is step 3 of settle: whether the workers are stopped now.
func (r *run) decideStop() {
	switch {
	case r.killNow:
		r.beginStop(true)
		for _, s := range r.slots {
			if s.w != nil && s.w.phase != phaseKilled {
				r.kill(s.w)
			}
		}
	case r.stopping:
	case r.failure != nil:
		r.beginStop(false)
	case r.tasks != nil:
		r.tasks.maybeFinish()
	case r.stopAsked:
		r.beginStop(true)
	}
}

// finished reports whether no worker runs and none is due to start (and,
// in task mode, the launcher is stopping and has handled all its input).
func (r *run) finished() bool {
	if r.tasks != nil && (!r.stopping || !r.tasks.inputDone()) {
		return false
	}
	for _, s := range r.slots {
		if s.w != nil || s.pending || (s.start != "" && !r.stopping) {
			return false
		}
	}
	return true
}

// status is the one exit decision (DESIGN sections 4 and 6).
func (r *run) status() int {
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

// after runs f on the loop once d has passed, unless Run has ended. f must
// check that what it acts on is still current.
func (r *run) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		select {
		case r.events <- f:
		case <-r.quit:
		}
	})
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

// startWith forks one process into the empty slot s.
func (r *run) startWith(s *slot, reason Reason, spec startSpec) error {
	cfg := r.cfg
	ctx, span := spec.ctx, trace.Span(nil)
	if ctx == nil {
		ctx, span = r.tel.workerSpan(r.ctx, r.l.path, s.index, reason)
	}
	env := WorkerEnv(ctx, cfg.propagator, cfg.environ, WorkerIdentity{
		Cluster:    cfg.cluster,
		Index:      s.index,
		Workers:    r.activeCount(),
		InstanceID: newInstanceID(),
	})
	env = append(env, spec.env...)
	stdin, ctty := spec.stdin, -1
	if stdin == nil {
		stdin = r.devNull
		if cfg.workers == 1 && s.index == 0 && usable(cfg.stdin) {
			stdin = cfg.stdin
			if foregroundTTY(stdin) {
				ctty = int(stdin.Fd())
			}
		}
	}
	files := []uintptr{stdin.Fd(), fdOr(cfg.stdout, r.devNull), fdOr(cfg.stderr, r.devNull)}
	if spec.fd3 != nil {
		files = append(files, spec.fd3.Fd())
	}
	ex := Exec{Path: r.l.path, Argv: r.l.argv, Env: env}
	if cfg.bootstrap != nil {
		ex = cfg.bootstrap(ex)
	}
	pid, err := r.spawn(spawnRequest{path: ex.Path, argv: ex.Argv, env: ex.Env, files: files, cpus: r.cpusFor(), ctty: ctty})
	if err != nil {
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "start failed")
			span.End()
		}
		return fmt.Errorf("start worker %d: %s: %w", s.index, ex.Path, err)
	}
	if span != nil {
		span.SetAttributes(attribute.Int("process.pid", pid))
		r.tel.workerStarted(r.ctx, reason)
	}
	r.serial++
	s.launched(&worker{serial: r.serial, pid: pid, started: time.Now(), span: span}, spec.fd3 != nil)
	r.byPid[pid] = s
	r.log.Debug("worker started", "worker", s.index, "pid", pid, "reason", reason)
	return nil
}

// cpusFor picks the CPUs of the next worker start, round-robin over the CPUs
// the launcher may use.
func (r *run) cpusFor() []int {
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
func (r *run) startOrFail(s *slot, reason Reason) {
	err := r.mode.startWorker(s, reason)
	if err == nil {
		return
	}
	r.log.Error("cannot start worker", "worker", s.index, "error", err)
	if policy, ok := r.mode.policy(); ok {
		r.applyPolicy(s, policy, spawnStatus(err), 0)
	}
}

// requestStop is a stop the user asked for; in task mode the tasks in
// flight may finish first (within stop_grace).
func (r *run) requestStop() {
	r.stopAsked = true
	if r.tasks != nil {
		r.tasks.drain()
	}
}

func (r *run) onExit(ev exitEvent) {
	s := r.byPid[ev.pid]
	if s == nil {
		return
	}
	delete(r.byPid, ev.pid)
	w := s.w
	left := s.exited()
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.in != nil {
		w.in.Close()
	}
	uptime := time.Since(w.started)
	clean := exitStatus(ev.status) == 0 || (w.phase != phaseRunning && r.stoppedCleanly(ev.status))
	if w.span != nil {
		r.tel.workerExited(r.ctx, w.span, ev.status, !clean)
	}
	r.logExit(s, w, ev.status, uptime)
	r.drainGroup(ev.pid)
	r.mode.exited(s, w, ev.status, left)
	r.afterExit(s, w, ev.status, uptime)
}

// afterExit decides what becomes of a slot whose process exited.
func (r *run) afterExit(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) {
	status := exitStatus(ws)
	switch {
	case r.stopping:
		if r.requested && !r.stoppedCleanly(ws) && r.stopStatus == nil {
			r.stopStatus = &status
		}
		r.remove(s)
	case s.retiring:
		r.remove(s)
	case w.startFailed:
		// A start that never got going is a quick failure, whatever
		// min_uptime says.
		if status == 0 {
			status = 1
		}
		r.applyPolicy(s, RestartAlways, status, 0)
	case w.replace != "" && (status == 0 || (w.phase != phaseRunning && r.stoppedCleanly(ws))):
		s.start = w.replace
	case w.replace != "":
		// Replaced, but it died of something else first: a crash counts.
		r.applyPolicy(s, RestartAlways, status, uptime)
	default:
		if policy, ok := r.mode.policy(); ok {
			r.applyPolicy(s, policy, status, uptime)
		}
	}
}

// stoppedCleanly reports whether a worker asked to stop ended as a clean
// stop: exit 0, death by the stop signal, or exit 128+stop signal.
func (r *run) stoppedCleanly(ws syscall.WaitStatus) bool {
	sig := r.cfg.stopSignal
	return exitStatus(ws) == 0 || (ws.Signaled() && ws.Signal() == sig) || ws.ExitStatus() == 128+int(sig)
}

func (r *run) logExit(s *slot, w *worker, ws syscall.WaitStatus, uptime time.Duration) {
	args := []any{"worker", s.index, "pid", w.pid, "status", describeStatus(ws), "uptime", uptime.Round(time.Millisecond)}
	switch {
	case w.span == nil: // a per-task process: its task result says how it went
		r.log.Debug("task process exited", args...)
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && !w.killed:
		r.log.Warn("worker killed by SIGKILL, not by otel-qrun: it may have run out of memory (check the kernel log or the container's memory limit)", args...)
	case exitStatus(ws) != 0 && w.phase == phaseRunning:
		r.log.Warn("worker failed", args...)
	default:
		r.log.Info("worker exited", args...)
	}
}

// applyPolicy applies the restart policy to a slot whose worker ended (or
// could not start) outside a stop.
func (r *run) applyPolicy(s *slot, policy RestartPolicy, status int, uptime time.Duration) {
	cfg := r.cfg
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
			r.log.Error(fmt.Sprintf("worker %d keeps failing: %d restarts in a row each failed before min_uptime (%s); giving up",
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
	s.pending = true
	s.gen++
	gen := s.gen
	r.log.Debug("restart scheduled", "worker", s.index, "delay", delay.Round(time.Millisecond))
	r.after(delay, func() {
		if s.pending && s.gen == gen && !r.stopping {
			s.pending = false
			s.start = ReasonRestart
		}
	})
}

// fail ends the launcher with status; settle stops the other workers.
func (r *run) fail(status int) {
	if r.failure == nil {
		r.failure = &status
	}
}

// beginStop stops every worker; requested is true for a stop the user
// asked for (signal, context, end of the tasks), whose clean exits give
// status 0. A persistent task worker that is idle is stopped by closing its
// stdin first; any other process gets the stop signal at once.
func (r *run) beginStop(requested bool) {
	if r.stopping {
		return
	}
	r.stopping, r.requested = true, requested
	if r.tasks != nil {
		r.tasks.stop()
	}
	for _, s := range append([]*slot(nil), r.slots...) {
		if s.pending {
			s.pending = false
			s.gen++
		}
		s.start = ""
		if s.w != nil {
			r.stopWorker(s, r.tasks != nil && !r.stopAsked && len(s.inflight) == 0)
		} else {
			r.remove(s)
		}
	}
}

// stopWorker stops the slot's process. cooperative (persistent workers
// only): close its stdin and give it stop_grace to exit by itself, then
// the stop signal; otherwise the stop signal at once. SIGKILL follows the
// stop signal after stop_grace. A cooperative stop under way is hurried
// by a later stop that is not.
func (r *run) stopWorker(s *slot, cooperative bool) {
	w := s.w
	s.stopping()
	if w.in != nil {
		w.in.Close() // EOF: a well-behaved worker finishes and exits
		w.in = nil
	}
	switch {
	case w.phase == phaseRunning && cooperative && r.mode.persistent():
		w.phase = phaseEOF
		w.timer = r.after(r.cfg.stopGrace, func() { r.graceOver(w) })
	case w.phase == phaseRunning, w.phase == phaseEOF && !cooperative:
		if w.timer != nil {
			w.timer.Stop()
		}
		r.signalStop(w)
	}
}

// signalStop sends the stop signal to the worker and arms the kill.
func (r *run) signalStop(w *worker) {
	w.phase = phaseSignaled
	if err := r.signal(w, r.cfg.stopSignal); err != nil {
		r.log.Error("signal process group", "pid", w.pid, "error", err)
	}
	w.timer = r.after(r.cfg.stopGrace, func() { r.graceOver(w) })
}

// graceOver is the end of a stop_grace of w: the next step of its stop.
func (r *run) graceOver(w *worker) {
	s := r.byPid[w.pid]
	if s == nil || s.w != w {
		return
	}
	switch w.phase {
	case phaseEOF:
		r.log.Info("worker did not exit within stop_grace of its stdin closing; sending the stop signal",
			"worker", s.index, "pid", w.pid, "stop_grace", r.cfg.stopGrace)
		r.signalStop(w)
	case phaseSignaled:
		r.log.Warn("worker did not stop within stop_grace; killing its process group",
			"worker", s.index, "pid", w.pid, "stop_grace", r.cfg.stopGrace)
		r.kill(w)
	}
}

// signal sends sig to the worker's process group. Every signal the loop
// sends to a worker goes through signal or kill.
func (r *run) signal(w *worker, sig syscall.Signal) error { return signalGroup(w.pid, sig) }

// kill sends SIGKILL to the worker's process group.
func (r *run) kill(w *worker) {
	w.killed, w.phase = true, phaseKilled
	if err := signalGroup(w.pid, syscall.SIGKILL); err != nil {
		r.log.Error("kill process group", "pid", w.pid, "error", err)
	}
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
	switch s {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		if r.stopAsked || r.stopping {
			r.log.Warn("received " + signalName(s) + " during the stop: killing every worker now")
			r.stopAsked, r.killNow = true, true
			if r.tasks != nil {
				r.tasks.abandonInput()
			}
			return
		}
		r.log.Info("received " + signalName(s) + ": stopping workers")
		r.requestStop()
	case syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH:
		for _, sl := range r.slots {
			if sl.w != nil {
				if err := r.signal(sl.w, s); err != nil {
					r.log.Error("forward signal", "signal", signalName(s), "pid", sl.w.pid, "error", err)
				}
			}
		}
	case syscall.SIGTTIN:
		r.scaleUp()
	case syscall.SIGTTOU:
		r.scaleDown()
	default:
		r.log.Debug("ignored signal", "signal", signalName(s))
	}
}

func (r *run) scaleUp() {
	if r.stopping || r.stopAsked {
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
	if r.mode.startsWorkers() {
		s.start = ReasonScale
	}
	r.slots = append(r.slots, s)
	sort.Slice(r.slots, func(i, j int) bool { return r.slots[i].index < r.slots[j].index })
	r.log.Info("adding a worker", "worker", index, "workers", r.activeCount())
}

// scaleDown retires one slot: an idle one when there is one (the last),
// else the last busy one, which stops once its tasks are done (settle).
func (r *run) scaleDown() {
	if r.stopping || r.stopAsked {
		return
	}
	if r.activeCount() <= 1 {
		r.log.Info("not removing a worker: at least one must run")
		return
	}
	var pick *slot
	for i := len(r.slots) - 1; i >= 0; i-- {
		s := r.slots[i]
		if s.done || s.retiring {
			continue
		}
		if len(s.inflight) == 0 {
			pick = s
			break
		}
		if pick == nil {
			pick = s
		}
	}
	pick.retiring = true
	if pick.pending {
		pick.pending = false
		pick.gen++
	}
	pick.start = ""
	r.log.Info("removing a worker", "worker", pick.index, "workers", r.activeCount())
}

// checkMemory recycles workers whose process group exceeds max_rss: after
// the task in flight, and cooperatively for persistent task workers.
func (r *run) checkMemory() {
	var pgids []int
	for _, s := range r.slots {
		if s.w != nil && s.state != slotStopping && s.w.replace == "" {
			pgids = append(pgids, s.w.pid)
		}
	}
	if len(pgids) == 0 {
		return
	}
	rss, err := groupsRSS(pgids)
	if err != nil {
		if !r.rssWarned {
			r.rssWarned = true
			r.log.Warn("max_rss is not enforced", "error", err)
		}
		return
	}
	for _, s := range r.slots {
		if s.w == nil || s.state == slotStopping || s.w.replace != "" {
			continue
		}
		if kib := rss[s.w.pid]; kib > r.cfg.maxRSS {
			r.log.Warn("worker exceeds max_rss: replacing it", "worker", s.index, "pid", s.w.pid,
				"rss_kib", kib, "max_rss_kib", r.cfg.maxRSS)
			s.w.replace = ReasonRecycle
		}
	}
}

// drainGroup stops what a worker left behind in its process group: the stop
// signal, the grace period, then SIGKILL. Run waits for it before returning.
func (r *run) drainGroup(pgid int) {
	if !groupAlive(pgid) {
		return
	}
	sig, grace, log := r.cfg.stopSignal, r.cfg.stopGrace, r.log
	log.Debug("stopping processes left in a worker's process group", "pgid", pgid)
	r.lingering.Add(1)
	go func() {
		defer r.lingering.Done()
		_ = signalGroup(pgid, sig)
		if waitGroupGone(pgid, grace) {
			return
		}
		log.Warn("processes left by a worker ignored the stop signal; killing them", "pgid", pgid)
		_ = signalGroup(pgid, syscall.SIGKILL)
		waitGroupGone(pgid, 5*time.Second)
	}()
}

// waitGroupGone waits up to d for the process group to be empty. Nothing
// notifies the end of processes that are not our children, so it checks on
// a short interval, only while such a group exists.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
