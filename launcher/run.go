package launcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"
)

// supervisor is the state of one Run call. Whoever holds mu owns it: the
// loop in Run, which holds it whenever it is not waiting for an event, or a
// persistent worker's reply reader, which handles its replies in place
// (handle). Other goroutines talk to it only through channels: process
// exits, signals, task reads, the result writer, and timers, which hand a
// function to the loop (see after).
type supervisor struct {
	// mu is held by the loop while it handles events and settles, and by
	// handle. Nothing blocks on the loop while holding it.
	mu sync.Mutex
	// waiting is what the loop selects on while it waits (set under mu):
	// handle wakes it (nudge) when what it should wait on has changed.
	waiting taskChannels
	nudge   chan struct{} // cap 1
	over    bool          // the loop has ended: handle does nothing more

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
	spawn  func(spawnRequest) (*tree, error) // forks a process: sp.start
	// spawnAsync asks for a fork without waiting (sp.startAsync); nil
	// where only spawn is (the loop's tests). spawnReady then says that
	// takeSpawned has results.
	spawnAsync  func(spawnRequest, any)
	spawnReady  <-chan struct{}
	takeSpawned func() []spawnResult
	launches    int               // asynchronous starts under way
	early       map[int]exitEvent // exits of processes whose start the loop has not seen yet
	serial      uint64

	devNull   *os.File
	stdio     bool           // stdoutFD and stderrFD are known
	stdoutFD  uintptr        // what the processes get as stdout
	stderrFD  uintptr        // and as stderr
	envs      []*envTemplate // the environments' unchanging parts, by kind of start
	cpus      []int
	nextPlace int // round-robin position for cpu affinity

	stopAsked    bool // a stop was requested (signal or context): a second one kills
	killNow      bool // a second stop signal: kill every worker
	shuttingDown bool // the workers are being stopped; none is started again
	requested    bool // the stop is one the user asked for: clean exits give 0
	failure      *int // status that ends the launcher: never-policy failure or give-up
	stopStatus   *int // first unclean exit after a requested stop
	lingering    sync.WaitGroup
	rssWarned    bool
	silentWarned bool     // the warning about a worker that does not reply was logged (silentOver)
	outClosed    bool     // the result stream's reader went away: see outputClosed
	tasks        *taskRun // nil outside task mode
	scratch      []*slot
}

// Run starts the workers and supervises them until they are all done, a
// stop is requested (a SIGTERM, SIGINT or SIGQUIT on signals, or ctx being
// canceled), or the restart policy gives up. It returns the launcher's exit
// status (README, Exit status). Spans of worker starts are children of the span
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
	r, err := newSupervisor(l, ctx)
	if err != nil {
		return 1, err
	}
	defer r.devNull.Close()
	exitCh := make(chan exitEvent)
	r.rp = newReaper(cfg.subreaper, exitCh, r.log)
	r.sp = newSpawner(r.rp, cfg)
	r.spawn = r.sp.start
	r.spawnAsync, r.spawnReady, r.takeSpawned = r.sp.startAsync, r.sp.ready, r.sp.take
	defer func() {
		close(r.quit)
		r.lingering.Wait()
		r.sp.close()
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
	r.mu.Lock()
	r.settle()
	for !r.finished() {
		tc := r.tasks.channels()
		if r.poll(tc) {
			r.afterEvents()
			continue
		}
		r.waiting = tc
		r.mu.Unlock()
		var handle func() // what the event asks of the loop, run under mu
		select {
		case <-r.nudge: // a reply reader changed what to wait on
		case ev := <-exitCh:
			handle = func() { r.onExit(ev) }
		case sig := <-signals:
			handle = func() { r.onSignal(sig) }
		case <-done:
			done = nil
			handle = func() {
				r.log.Info("stopping workers", "reason", context.Cause(ctx))
				r.requestStop()
			}
		case f := <-r.events:
			handle = f
		case <-guard:
			handle = r.checkMemory
		case ev := <-tc.reads:
			handle = func() { r.tasks.onReads(ev) }
		case <-tc.readerDone:
			handle = r.tasks.onDrained
		case <-tc.progress:
			// the result writer caught up (or failed): see channels
		case <-tc.outClosed:
			handle = func() { r.outputClosed(r.tasks.out.closedOutput()) }
		case <-r.spawnReady:
			handle = r.onSpawned
		}
		r.mu.Lock()
		if handle != nil {
			handle()
		}
		r.afterEvents()
	}
	r.over = true
	r.mu.Unlock()
	if r.tasks != nil {
		r.tasks.out.finish(signals)
	}
	if cfg.onDrained != nil {
		cfg.onDrained()
	}
	return r.status(), nil
}

// afterEvents ends a step of the loop, under mu: the other task mode
// events that are ready are handled before settle decides (and writes task
// lines), up to a bound; then the results of the step go out together.
func (r *supervisor) afterEvents() {
	for i := 0; i < maxPolled && r.poll(r.tasks.channels()); i++ {
	}
	r.settleStep()
}

// settleStep settles, then hands the results of the step to the writer
// together.
func (r *supervisor) settleStep() {
	r.settle()
	if r.tasks != nil {
		r.tasks.out.flush()
	}
}

// handle runs f, an event of a goroutine other than the loop's (a reply
// reader), in place under mu, then settles as the loop does after an
// event, and wakes the loop when what it waits on has changed (the run is
// over, or task mode's channels are not the ones it selects on). It
// reports false, without running f, once the loop has ended.
func (r *supervisor) handle(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over {
		return false
	}
	f()
	r.settleStep()
	if r.finished() || r.tasks.channels() != r.waiting {
		signal1(r.nudge)
	}
	return true
}

// maxPolled bounds the ready events handled together before settle, so
// that a steady stream of task reads cannot starve the other channels.
const maxPolled = 64

// poll handles one task mode event that is ready now (a task read),
// without waiting; false when none was.
func (r *supervisor) poll(tc taskChannels) bool {
	if r.tasks == nil {
		return false
	}
	select {
	case ev := <-tc.reads:
		r.tasks.onReads(ev)
	default:
		return false
	}
	return true
}

// newRun prepares a run of l: its files and CPUs; begin picks the mode.
func newSupervisor(l *Launcher, ctx context.Context) (*supervisor, error) {
	cfg := &l.cfg
	r := &supervisor{
		l: l, cfg: cfg, log: cfg.logger, tel: l.tel, ctx: ctx,
		byPid:  make(map[int]*slot),
		events: make(chan func()),
		nudge:  make(chan struct{}, 1),
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
func (r *supervisor) begin() {
	cfg := r.cfg
	switch {
	case !cfg.taskMode():
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
func (r *supervisor) settle() {
	r.scratch = append(r.scratch[:0], r.slots...) // remove may change r.slots
	for _, s := range r.scratch {
		w := s.w
		if w != nil && w.stopNow && len(s.inflight) > 0 && r.tasks != nil {
			r.tasks.requeueHeld(s)
		}
		switch {
		case w != nil && s.state != slotStopping && (w.stopNow || (len(s.inflight) == 0 && (w.replace != "" || s.retiring))):
			r.stopWorker(s, !w.stopNow)
		case w == nil && s.retiring:
			r.remove(s)
		case w == nil && s.start != "" && !s.pending && !r.shuttingDown:
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
func (r *supervisor) decideStop() {
	switch {
	case r.killNow:
		r.beginStop(true)
		for _, s := range r.slots {
			if s.w != nil && s.w.phase != phaseKilled {
				r.kill(s.w)
			}
		}
	case r.shuttingDown:
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
func (r *supervisor) finished() bool {
	if r.tasks != nil && (!r.shuttingDown || !r.tasks.inputDone()) {
		return false
	}
	for _, s := range r.slots {
		if s.w != nil || s.pending || s.launching || (s.start != "" && !r.shuttingDown) {
			return false
		}
	}
	return true
}

// status is the one exit decision (README, Exit status; docs/protocol.md section 5).
func (r *supervisor) status() int {
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

// after runs f on the loop once d has passed, unless Run has ended. f must
// check that what it acts on is still current.
func (r *supervisor) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		select {
		case r.events <- f:
		case <-r.quit:
		}
	})
}

// activeCount is the number of slots that count as workers: not done, not
// being scaled away.
func (r *supervisor) activeCount() int {
	n := 0
	for _, s := range r.slots {
		if !s.finished && !s.retiring {
			n++
		}
	}
	return n
}

// requestStop is a stop the user asked for; in task mode the tasks in
// flight may finish first (within stop_grace).
func (r *supervisor) requestStop() {
	r.stopAsked = true
	if r.tasks != nil {
		r.tasks.finishInFlight()
	}
}

// remove drops a slot that will not run again and has no worker (nor
// one being started).
func (r *supervisor) remove(s *slot) {
	if s.w != nil || s.launching {
		return
	}
	for i, x := range r.slots {
		if x == s {
			r.slots = append(r.slots[:i], r.slots[i+1:]...)
			return
		}
	}
}

// onSignal handles a signal of the launcher's. Every signal but SIGCHLD
// also looks for a stopped worker on the terminal (jobControl): signal.Notify
// drops what does not fit in the channel, and under a stream of signals (^Z
// held down) the SIGCHLD of a stop may be the one dropped; the signals
// read after it then do its work.
func (r *supervisor) onSignal(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	if s != syscall.SIGCHLD {
		defer r.jobControl()
	}
	switch s {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		// Only a second stop request kills at once: a stop the
		// launcher began by itself (end of input, give-up, closed
		// output) goes on cooperatively at the first.
		if r.stopAsked {
			r.log.Warn("received " + signalName(s) + " during the stop: killing every worker now")
			r.stopAsked, r.killNow = true, true
			if r.tasks != nil {
				r.tasks.abandonInput()
			}
			return
		}
		if r.shuttingDown {
			r.log.Info("received "+signalName(s)+" during the stop: letting it go on; a second one kills every worker now", "stop_grace", r.cfg.stopGrace)
		} else {
			r.log.Info("received " + signalName(s) + ": stopping workers")
		}
		r.requestStop()
	case syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH:
		n := 0
		for _, sl := range r.slots {
			if sl.w != nil {
				n++
				if err := r.forward(sl.w, s); err != nil {
					r.log.Error("forward signal", "signal", signalName(s), "pid", sl.w.pid, "error", err)
				}
			}
		}
		r.log.Debug("forwarded "+signalName(s)+" to every worker's tree", "workers", n)
	case syscall.SIGCHLD:
		r.jobControl()
	case syscall.SIGTSTP:
		r.suspendWorkers()
	case syscall.SIGTTIN:
		r.scaleUp()
	case syscall.SIGTTOU:
		r.scaleDown()
	default:
		r.log.Debug("ignored signal", "signal", signalName(s))
	}
}

// jobControl: a child changed state (SIGCHLD). A worker that holds the
// terminal and was stopped from it (^Z) stops the launcher too, until the
// shell continues the job (tree.suspendJob): the shell then sees its job
// stopped, as without the launcher. (Only a single worker holds the
// terminal; with several, ^Z reaches the launcher: suspendWorkers.)
func (r *supervisor) jobControl() {
	for _, s := range r.slots {
		w := s.w
		if w == nil || w.exit != nil {
			continue
		}
		if stopped, sig := w.tree.stoppedOnTerminal(); stopped {
			if r.stopAsked || r.shuttingDown {
				// The job is ending (kill %1 of a stopped job: SIGTERM,
				// then SIGCONT): a worker stopped again, by the terminal
				// it reads in the background say, is continued to take
				// its stop signal, rather than the job stopped again.
				r.log.Debug("the worker on the terminal was stopped during the stop; continuing it", "worker", s.index, "pid", w.pid, "signal", signalName(sig))
				_ = w.tree.forward(syscall.SIGCONT)
				continue
			}
			r.log.Info("the worker on the terminal was stopped", "worker", s.index, "pid", w.pid, "signal", signalName(sig))
			w.tree.suspendJob(sig)
			r.log.Debug("the worker on the terminal goes on", "worker", s.index, "pid", w.pid)
		}
	}
}

// suspendWorkers: the launcher's group was stopped from the terminal (^Z:
// SIGTSTP, caught by a launcher on a terminal). That is the case when no
// worker holds the terminal, as with several workers: as a shell stops
// every process of a job, each worker's group gets SIGTSTP, the launcher
// stops its own group (stopJob) until the shell continues the job (fg,
// bg), and then continues every worker. Outside job control (an orphaned
// group) nothing would continue the job: the signal is ignored.
func (r *supervisor) suspendWorkers() {
	if r.stopAsked || r.shuttingDown {
		r.log.Debug("ignored SIGTSTP: the workers are stopping")
		return
	}
	if !jobControlled() {
		r.log.Debug("ignored SIGTSTP: no job-control shell would continue the job")
		return
	}
	var trees []*tree
	for _, s := range r.slots {
		if w := s.w; w != nil && w.exit == nil {
			trees = append(trees, w.tree)
			_ = w.tree.forward(syscall.SIGTSTP)
		}
	}
	r.log.Info("stopped from the terminal: the workers are stopped until the job is continued", "workers", len(trees))
	stopJob(syscall.SIGTSTP)
	for _, t := range trees {
		_ = t.forward(syscall.SIGCONT)
	}
	r.log.Debug("the job was continued: the workers go on")
}

func (r *supervisor) scaleUp() {
	if r.shuttingDown || r.stopAsked {
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
func (r *supervisor) scaleDown() {
	if r.shuttingDown || r.stopAsked {
		return
	}
	if r.activeCount() <= 1 {
		r.log.Info("not removing a worker: at least one must run")
		return
	}
	var pick *slot
	for i := len(r.slots) - 1; i >= 0; i-- {
		s := r.slots[i]
		if s.finished || s.retiring {
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

// checkMemory recycles workers whose process tree exceeds max_rss: after
// the task in flight, and cooperatively for persistent task workers.
func (r *supervisor) checkMemory() {
	var ws []*worker
	for _, s := range r.slots {
		if s.w != nil && s.state != slotStopping && s.w.replace == "" {
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
