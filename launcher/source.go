package launcher

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// taskSource is where task mode gets its tasks: today the lines of stdin, a
// file or a FIFO (lineSource). Next is called from one reading goroutine
// only, and only when the queue has room (queue_limit), so a source never
// reads far ahead of the workers.
type taskSource interface {
	// Next blocks until the next task. handle is the source's own mark of
	// the task, given back with its result (resultSink) or on Return. err
	// is a *taskproto.LineError for an input that is not a task (reading
	// goes on), io.EOF at the end, any other error when reading failed.
	Next() (t taskproto.Task, handle any, err error)
	// Stop asks the source to consume no more input: Next then returns
	// what the source has consumed and not yet returned, and then io.EOF.
	// It reports whether a Next is blocked waiting for input at that
	// moment (that input is not consumed yet: no one waits for it).
	Stop() (blocked bool)
}

// taskReturner is what a source that can take back a task implements: on
// a stop, a task that never started is handed back with Return instead of
// getting the result cancelled.
type taskReturner interface {
	Return(handle any) error
}

// cutReporter is what a source whose Stop can cut a line it is reading
// implements: after a Stop that reported a read under way, cutLine gives
// the cut line's id, whose result the caller writes.
type cutReporter interface {
	cutLine() (id string, ok bool)
}

// lineSource reads task lines with taskproto.Reader through a gate that
// Stop closes, so what the Reader buffered is still parsed (and each line
// gets its result) while nothing new is read.
type lineSource struct {
	rd   *taskproto.Reader
	gate *gate
	next *readEvent // read ahead to tell a line cut by the stop
}

func newLineSource(in io.Reader, maxLine int) *lineSource {
	g := &gate{r: in}
	return &lineSource{rd: taskproto.NewReader(g, maxLine), gate: g}
}

func (s *lineSource) Next() (taskproto.Task, any, error) {
	if ev := s.next; ev != nil {
		s.next = nil
		return ev.task, nil, ev.err
	}
	if s.gate.cutAtStop() {
		// What the Reader still holds is the line the stop cut, which
		// the stop reported (cutLine).
		return taskproto.Task{}, nil, io.EOF
	}
	t, err := s.rd.Next()
	if s.gate.cutAtStop() {
		// The stop came while this Next waited in a read, with a line
		// under way: whatever the Reader made of that line, the stop
		// reported it (cutLine).
		return taskproto.Task{}, nil, io.EOF
	}
	var le *taskproto.LineError
	if errors.As(err, &le) && s.gate.cut() {
		// The stop may have cut this line: when it is the last one and
		// the input consumed does not end with a newline, it is a task
		// that was never whole, and it is cancelled like the others,
		// under the id it shows already (taskproto.CutLineID).
		t2, err2 := s.rd.Next()
		if errors.Is(err2, io.EOF) {
			id, _ := s.gate.cutLine()
			return taskproto.Task{}, nil, &cutLineError{id: id}
		}
		s.next = &readEvent{task: t2, err: err2}
	}
	return t, nil, err
}

// cutLineError is the last line of the input consumed before a stop, cut
// short by the stop.
type cutLineError struct{ id string }

func (e *cutLineError) Error() string { return "line " + e.id + " was cut short by the stop" }

func (s *lineSource) Stop() bool { return s.gate.close() }

// cutLine reports, after a Stop that found a read under way, the id of the
// line that the stop cut: consumed in part (no newline yet) while the read
// waited for the rest. Its result is the caller's to write: the source
// hands on nothing more.
func (s *lineSource) cutLine() (string, bool) {
	if !s.gate.cutAtStop() {
		return "", false
	}
	return s.gate.cutLine()
}

// ready reports whether Next returns without reading (see readySource).
func (s *lineSource) ready() bool { return s.next != nil || s.rd.Buffered() }

// readySource is a taskSource that can tell when its next task is already
// read: the reading goroutine then hands on every task one read gave in
// one event, instead of a goroutine hop per task.
type readySource interface {
	ready() bool
}

// gate is an io.Reader that ends (io.EOF) once closed. It counts the
// lines it passed on, and keeps the start of the one under way, so that a
// line the stop cuts gets its line number and id.
type gate struct {
	mu        sync.Mutex
	r         io.Reader
	closed    bool
	inRead    bool
	readAtEnd bool   // close found a read under way
	last      byte   // the last byte read
	lines     int    // newlines passed on
	tail      []byte // the start of the line under way, at most tailMax bytes
}

// tailMax is how much of a line under way the gate keeps: enough for the
// "id" member of any producer that writes it first.
const tailMax = 4096

func (g *gate) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return 0, io.EOF
	}
	g.inRead = true
	g.mu.Unlock()
	n, err := g.r.Read(p)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inRead = false
	if g.closed {
		// The stop came while this read waited: what it returns arrived
		// after the stop, and is not taken (the stop reported the line
		// it cut, see cutLine).
		return 0, io.EOF
	}
	if n > 0 {
		g.last = p[n-1]
		b := p[:n]
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			g.lines += bytes.Count(b, []byte{'\n'})
			g.tail = g.tail[:0]
			b = b[i+1:]
		}
		g.tail = append(g.tail, b[:min(len(b), tailMax-len(g.tail))]...)
	}
	return n, err
}

// underWay reports whether a line is under way: bytes were read, and the
// last of them ends no line. g.mu is held.
func (g *gate) underWay() bool { return g.last != '\n' && g.last != 0 }

// cutLine returns the id of the line under way (taskproto.CutLineID), and
// false when no line is under way.
func (g *gate) cutLine() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.underWay() {
		return "", false
	}
	return taskproto.CutLineID(g.tail, g.lines+1), true
}

// cutAtStop reports whether the stop found a read under way with a line
// under way: the Reader then holds only that line.
func (g *gate) cutAtStop() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.readAtEnd && g.underWay()
}

// cut reports whether the gate is closed after a read that did not end
// with a newline.
func (g *gate) cut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed && g.underWay()
}

// close closes the gate and reports whether a Read is under way.
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.readAtEnd = g.inRead
	return g.inRead
}

// resultBatch is result lines in one buffer: line i is
// buf[ends[i-1]:ends[i]] (from 0 for the first), ending in '\n', for the
// task whose source handle is handles[i].
type resultBatch struct {
	buf     []byte
	ends    []int
	handles []any
}

func (b *resultBatch) len() int { return len(b.ends) }

func (b *resultBatch) reset() {
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	clear(b.handles)
	b.handles = b.handles[:0]
}

// resultSink is where task results go: today a file or stdout
// (writerSink). Put is called from the result writer goroutine only, never
// from the loop, so a slow or full output never stops the loop.
type resultSink interface {
	// Put writes the lines of b from byte offset from (the start of a
	// line, or where a failed Put stopped) and returns the offset it
	// reached; on an error Put is called again from there, so a line is
	// completed, never left torn, once writing works again.
	Put(b *resultBatch, from int) (int, error)
	// Abandon is called when the launcher gives up on the rest of b (a
	// write that keeps failing at exit, or a second stop signal) after
	// offset at: a line written in part is taken back where the output
	// allows it.
	Abandon(b *resultBatch, at int)
}

// writerSink writes result lines to an io.Writer, a batch in one write
// when it can.
type writerSink struct{ w io.Writer }

func (s *writerSink) Put(b *resultBatch, from int) (int, error) {
	for from < len(b.buf) {
		n, err := s.w.Write(b.buf[from:])
		from += n
		if err != nil {
			return from, err
		}
		if n == 0 {
			return from, io.ErrShortWrite
		}
	}
	return from, nil
}

func (s *writerSink) Abandon(b *resultBatch, at int) {
	partial := 0
	for i, end := range b.ends {
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		if at > start && at < end {
			partial = at - start
		}
	}
	f, ok := s.w.(*os.File)
	if !ok || partial == 0 {
		return
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		_ = f.Truncate(st.Size() - int64(partial))
	}
}

// resultWriter owns the result output for the loop: the loop adds lines
// to a pending batch, and a goroutine takes the batch (swapping it with a
// spare) and writes it with the sink whenever it is idle, so lines that end
// while a write is under way go out together in the next one. A failed
// write is retried with a growing pause. While results back up (limit lines
// pending, or writes failing) the loop pauses reading input (full) and
// waits on progress, so a stuck output throttles the input, never the loop.
type resultWriter struct {
	r     *supervisor
	sink  resultSink
	limit int

	mu        sync.Mutex
	pending   *resultBatch // lines the goroutine has not taken yet
	spare     *resultBatch // a written batch, for reuse
	writing   bool         // the goroutine holds a batch
	failing   bool         // the last write failed
	errSeen   bool
	abandoned bool          // results were given up on
	closedErr error         // the output's reader went away (EPIPE); nothing more is written
	closedCh  chan struct{} // closed with closedErr set
	closing   bool          // no more lines: end once everything is written

	added bool // the loop added lines since its last flush (the loop's alone)

	kick     chan struct{} // cap 1: there are lines to write
	progress chan struct{} // cap 1: a batch was written, or a write failed
	abandon  chan struct{}
	done     chan struct{}
}

func newResultWriter(r *supervisor, sink resultSink, limit int) *resultWriter {
	w := &resultWriter{
		r: r, sink: sink, limit: limit, pending: &resultBatch{}, spare: &resultBatch{},
		kick: make(chan struct{}, 1), progress: make(chan struct{}, 1), closedCh: make(chan struct{}),
		abandon: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

func signal1(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (w *resultWriter) loop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for w.pending.len() == 0 {
			if w.closing {
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			select {
			case <-w.kick:
			case <-w.abandon:
				return
			}
			w.mu.Lock()
		}
		b := w.pending
		w.pending, w.spare, w.writing = w.spare, nil, true
		w.mu.Unlock()
		if !w.write(b) {
			return
		}
		b.reset()
		w.mu.Lock()
		w.spare, w.writing, w.failing = b, false, false
		w.mu.Unlock()
		signal1(w.progress)
	}
}

// write writes b, retrying failures; false when the launcher gave up.
func (w *resultWriter) write(b *resultBatch) bool {
	pause := 10 * time.Millisecond
	for off := 0; off < len(b.buf); {
		var err error
		off, err = w.sink.Put(b, off)
		if err == nil {
			continue
		}
		if errors.Is(err, syscall.EPIPE) {
			// The reader went away (`| head -1`): no retry can
			// succeed. The loop stops the run (see closedOutput).
			w.mu.Lock()
			w.closedErr, w.abandoned = err, true
			w.mu.Unlock()
			w.sink.Abandon(b, off)
			close(w.closedCh)
			return false
		}
		w.mu.Lock()
		w.failing = true
		first := !w.errSeen
		w.errSeen = true
		w.mu.Unlock()
		if first {
			w.r.log.Error("writing results failed; retrying", "error", err)
		}
		signal1(w.progress)
		select {
		case <-time.After(pause):
		case <-w.abandon:
			w.sink.Abandon(b, off)
			return false
		}
		pause = min(2*pause, time.Second)
	}
	return true
}

// add queues the result line of res; flush hands it to the goroutine.
func (w *resultWriter) add(res *taskproto.Result, handle any) {
	w.mu.Lock()
	if w.closedErr != nil {
		// Nobody reads the output any more: the line has nowhere to go.
		w.mu.Unlock()
		return
	}
	b := w.pending
	b.buf = taskproto.AppendResult(b.buf, *res)
	b.ends = append(b.ends, len(b.buf))
	b.handles = append(b.handles, handle)
	w.mu.Unlock()
	w.added = true
}

// flush wakes the goroutine for the lines added since the last flush: the
// loop calls it once it has settled its events, so the results of one
// step go out in one write and the goroutine is woken once, not per line.
func (w *resultWriter) flush() {
	if w.added {
		w.added = false
		signal1(w.kick)
	}
}

// full reports whether reading input should pause; the loop then waits on
// progress too.
func (w *resultWriter) full() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closedErr != nil {
		return false // nothing is written any more: never wait for it
	}
	return w.pending.len() >= w.limit || w.failing
}

// finish lets the goroutine write what is left once the loop is over. A
// stop signal, or stop_grace of failing writes, gives up on the rest.
func (w *resultWriter) finish(signals <-chan os.Signal) {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	signal1(w.kick)
	var giveUp <-chan time.Time
	for {
		select {
		case <-w.done:
			return
		case <-w.progress:
			w.mu.Lock()
			failing := w.failing
			w.mu.Unlock()
			if failing && giveUp == nil {
				giveUp = time.After(w.r.cfg.stopGrace)
			}
		case sig := <-signals:
			if isStopSignal(sig) {
				w.r.log.Warn("received a stop signal while writing the last results; not writing the rest")
				w.giveUp()
				return
			}
		case <-giveUp:
			w.r.log.Error("writing results keeps failing; not writing the rest")
			w.giveUp()
			return
		}
	}
}

func (w *resultWriter) giveUp() {
	w.mu.Lock()
	w.abandoned = true
	w.mu.Unlock()
	close(w.abandon)
	<-w.done
}

// closedOutput returns the EPIPE error when the output's reader went away,
// else nil.
func (w *resultWriter) closedOutput() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closedErr
}

// lost reports whether results were given up on.
func (w *resultWriter) lost() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.abandoned
}

func isStopSignal(sig os.Signal) bool {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		return true
	}
	return false
}
