package launcher

import (
	"sync"
)

// Preparation is what a [Launcher.Run] needs before its first worker,
// begun ahead of it in the background ([Prepare]): on Linux, the Run's
// cgroup with a first worker cgroup in it, and the keeper's start (a fork
// and an exec of the launcher's executable, about half a millisecond).
// A short run (otel-qrun -- true) spent that time on its critical path
// after its own start-up; prepared, it overlaps the caller's (the
// configuration, the OpenTelemetry SDK, the signal subscriptions).
//
// A Preparation is taken by the one Run given it with [WithPreparation].
// Call [Preparation.Close] once that Run has returned, or when no Run took
// it (an error before Run), in every case: the Run kills the keeper at its
// end and leaves reaping it to Close, so that a caller's own shut-down
// overlaps the keeper's; without Close, each prepared Run leaves a zombie
// keeper and an open pidfd behind.
type Preparation struct {
	ready chan struct{}
	sup   *supervision

	mu    sync.Mutex
	taken bool
}

// Prepare begins a Run's preparation in the background with keeper as the
// keeper's executable ("" for none, as [WithKeeper]) and environ as the
// environment the keeper takes GORACE from (as [WithEnviron]). It returns
// at once, and needs nothing of the Run's configuration: it may begin
// before the caller's own (cmd begins it before parsing its arguments).
// What goes wrong (a keeper that cannot start) is reported by the Run that
// takes it, through that Run's logger ([WithLogger]).
func Prepare(keeper string, environ []string) *Preparation {
	p := &Preparation{ready: make(chan struct{})}
	go func() {
		defer close(p.ready)
		p.sup = newSupervision(keeper, environ)
		p.sup.reapLater = true // by Close, after the caller's shut-down
	}()
	return p
}

// Supervision reports the mechanism the prepared Run follows worker trees
// with, as [ProbeSupervision] does before a Run, once the preparation is
// done.
func (p *Preparation) Supervision() SupervisionInfo {
	<-p.ready
	return p.sup.info()
}

// take hands the prepared supervision to a Run, once it is ready; nil
// when another Run took it or Close was called.
func (p *Preparation) take() *supervision {
	<-p.ready
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken {
		return nil
	}
	p.taken = true
	return p.sup
}

// Close ends the preparation when no Run took it: the cgroups are removed
// and the keeper is ended. After a Run that took it, it reaps the keeper
// that Run ended: Run kills it at its end but does not wait for the
// kernel to tear it down (about half a millisecond), so that a caller's
// own shut-down (cmd: flushing its telemetry) overlaps that. Call Close
// in any case, after the Run; it waits for the preparation to be done.
func (p *Preparation) Close() {
	if s := p.take(); s != nil {
		s.close()
	}
	p.sup.reapKeeper()
}
