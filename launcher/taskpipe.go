package launcher

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// taskPipe is the write end of a persistent worker's stdin. The loop
// writes task lines into it and never waits: a line goes straight into the
// pipe when the pipe has room (one write(2), no goroutine), and what does
// not fit is kept and written by one goroutine that ends as soon as the
// pipe has taken it. With prefetch, up to prefetch lines may be waiting for
// the worker to read them.
//
// mu guards pending, flushing and closed; the loop calls write and Close,
// the flushing goroutine owns the bytes it took from pending.
type taskPipe struct {
	f        *os.File
	wg       *sync.WaitGroup // the run's lingering goroutines
	mu       sync.Mutex
	pending  []byte // bytes the pipe did not take yet, in order
	flushing bool   // a goroutine is writing pending
	closed   bool
	broken   bool // a write failed: the worker closed its stdin
	closing  bool // close once pending is written (closeWhenWritten)
	dropped  int  // bytes given and never written: the pipe broke first
	// flushed is closed when the flushing goroutine ends (one per flush).
	flushed chan struct{}

	staged []byte // lines the loop gathered for one write (stage, flushStaged); loop only
}

func newTaskPipe(f *os.File, wg *sync.WaitGroup) *taskPipe { return &taskPipe{f: f, wg: wg} }

// write queues line (which the pipe copies) for the worker. A failed
// write is not reported: a worker that cannot read its stdin shows up as
// its exit.
func (p *taskPipe) write(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return
	case p.broken:
		p.dropped += len(line)
		return
	case p.flushing:
		p.pending = append(p.pending, line...)
		return
	}
	n, err := p.tryWrite(line)
	switch {
	case err != nil:
		p.broken = true
		p.dropped += len(line) - n
	case n < len(line):
		p.pending = append(p.pending[:0], line[n:]...)
		p.flushing, p.flushed = true, make(chan struct{})
		p.wg.Add(1)
		go p.flush()
	}
}

// stage gathers line for the next flushStaged, so that the task lines one
// settle gives a worker go in one write(2). The loop only.
func (p *taskPipe) stage(line []byte) { p.staged = append(p.staged, line...) }

// isBroken reports whether a write failed: the worker closed its stdin.
func (p *taskPipe) isBroken() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.broken
}

// flushStaged writes the staged lines (see write); it reports whether
// there were any.
func (p *taskPipe) flushStaged() bool {
	if len(p.staged) == 0 {
		return false
	}
	p.write(p.staged)
	p.staged = p.staged[:0]
	return true
}

// tryWrite writes what the pipe takes now, without waiting; EAGAIN is not
// an error.
func (p *taskPipe) tryWrite(b []byte) (int, error) {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			k, err := unix.Write(int(fd), b[n:])
			if k > 0 {
				n += k
			}
			switch {
			case err == nil, errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.EAGAIN):
				return true
			default:
				werr = err
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// flush writes pending until it is empty, the pipe is closed, or a write
// fails.
func (p *taskPipe) flush() {
	defer p.wg.Done()
	var buf []byte
	for {
		p.mu.Lock()
		if p.closed || p.broken || len(p.pending) == 0 {
			p.flushing = false
			close(p.flushed)
			if p.broken {
				p.dropped += len(p.pending)
			}
			p.pending = p.pending[:0]
			closing := p.closing && !p.closed
			p.closed = p.closed || closing
			p.mu.Unlock()
			if closing {
				p.f.Close()
			}
			return
		}
		buf, p.pending = p.pending, buf[:0]
		p.mu.Unlock()
		if n, err := p.f.Write(buf); err != nil {
			p.mu.Lock()
			p.broken = true
			p.dropped += len(buf) - n
			p.mu.Unlock()
		}
	}
}

// watchHangup calls onHangup when the worker has closed its end of the
// pipe (every reader is gone) while the launcher still holds its own: the
// write end then reports POLLERR. It returns at once after that, or when
// the launcher closes its end. It waits without a thread of its own: the
// runtime's poller wakes a reader of the write end on its EPOLLERR (the
// write end never reports EPOLLIN), so a run of 256 workers does not hold
// 256 threads for it. A worker that closes its stdin and keeps running
// was otherwise seen only at the next write (EPIPE): with the lines it
// holds already written (prefetch), never, until a timeout or its exit.
func (p *taskPipe) watchHangup(onHangup func()) {
	defer p.wg.Done()
	rc, err := p.f.SyscallConn()
	if err != nil {
		return
	}
	hung := false
	check := func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, 0)
		hung = err == nil && n == 1 && fds[0].Revents&unix.POLLERR != 0
		return hung
	}
	if err := rc.Read(check); err != nil && !hung {
		// A full pipe whose readers are gone reports EPOLLERR alone,
		// which the poller turns into an error for its waiters rather
		// than a wake-up: look once more, unless the pipe was closed.
		_ = rc.Control(func(fd uintptr) { check(fd) })
	}
	if hung {
		// A write blocked on the full pipe returns (EPIPE) now that no
		// reader is left: what it had not written is counted as dropped
		// once it has, and only then is what never reached the worker
		// known (unsentBytes).
		p.mu.Lock()
		for p.flushing {
			done := p.flushed
			p.mu.Unlock()
			<-done
			p.mu.Lock()
		}
		p.mu.Unlock()
		onHangup()
	}
}

// unsentBytes is what was given to the pipe and never written into it:
// the lines pending behind a full pipe, those staged for the next write,
// and those dropped because a write had failed.
func (p *taskPipe) unsentBytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) + len(p.staged) + p.dropped
}

// closeWhenWritten closes the pipe once what was written has gone into
// it: at once when nothing is pending, else after the flushing goroutine
// wrote it (or failed to). A per-task process gets its payload this way.
func (p *taskPipe) closeWhenWritten() {
	p.mu.Lock()
	if p.flushing {
		p.closing = true
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.f.Close()
}

// Close closes the pipe: the worker reads EOF once it has read what was
// written. Lines still pending are dropped (Close is called when the
// worker is stopped, or after its queue drained). A flushing goroutine
// blocked on the full pipe returns.
func (p *taskPipe) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.f.Close()
}
