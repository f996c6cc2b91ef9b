package launcher

import (
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
	t, err := s.rd.Next()
	var le *taskproto.LineError
	if errors.As(err, &le) && s.gate.cut() {
		// The stop may have cut this line: when it is the last one and
		// the input consumed does not end with a newline, it is a task
		// that was never whole, and it is cancelled like the others.
		t2, err2 := s.rd.Next()
		if errors.Is(err2, io.EOF) {
			return taskproto.Task{}, nil, &cutLineError{id: le.ID}
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

// gate is an io.Reader that ends (io.EOF) once closed.
type gate struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
	inRead bool
	last   byte // the last byte read
}

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
	g.inRead = false
	if n > 0 {
		g.last = p[n-1]
	}
	g.mu.Unlock()
	return n, err
}

// cut reports whether the gate is closed after a read that did not end
// with a newline.
func (g *gate) cut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed && g.last != '\n' && g.last != 0
}

// close closes the gate and reports whether a Read is under way.
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return g.inRead
}

// sinkItem is one result line (ending in '\n') and the handle its task
// came with from the source.
type sinkItem struct {
	line   []byte
	handle any
}

// resultSink is where task results go: today a file or stdout
// (writerSink). Put is called from the result writer goroutine only, never
// from the loop, so a slow or full output never stops the loop.
type resultSink interface {
	// Put writes items in order. It returns how many were written whole
	// and the error that stopped it; Put is called again with the rest.
	// A line is never left torn: it is completed by the next Put, or
	// removed by Abandon.
	Put(items []sinkItem) (int, error)
	// Abandon is called when the launcher gives up on the rest (a write
	// that keeps failing at exit, or a second stop signal): a line written
	// in part is taken back where the output allows it.
	Abandon()
}

// writerSink writes result lines to an io.Writer; partial is what was
// written of the first line of the next Put.
type writerSink struct {
	w       io.Writer
	partial int
}

func (s *writerSink) Put(items []sinkItem) (int, error) {
	for i, it := range items {
		for s.partial < len(it.line) {
			n, err := s.w.Write(it.line[s.partial:])
			s.partial += n
			if err != nil {
				return i, err
			}
			if n == 0 {
				return i, io.ErrShortWrite
			}
		}
		s.partial = 0
	}
	return len(items), nil
}

func (s *writerSink) Abandon() {
	f, ok := s.w.(*os.File)
	if !ok || s.partial == 0 {
		return
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if f.Truncate(st.Size()-int64(s.partial)) == nil {
			s.partial = 0
		}
	}
}

// resultWriter owns the result output for the loop: the loop queues lines
// (add) and hands them as a batch to a goroutine that writes them with the
// sink, retrying failed writes with a growing pause. While a batch is out
// or lines wait, the loop pauses reading input when the backlog is large
// (full), so a stuck output throttles the input, never the loop.
type resultWriter struct {
	r         *run
	sink      resultSink
	pending   []sinkItem
	batch     []sinkItem // with the goroutine while busy
	busy      bool
	limit     int
	failing   bool
	toW       chan []sinkItem
	written   chan error // nil: a batch is done; else a failure (retrying)
	abandon   chan struct{}
	done      chan struct{}
	errSeen   bool
	abandoned bool // results were given up on
}

func newResultWriter(r *run, sink resultSink, limit int) *resultWriter {
	w := &resultWriter{
		r: r, sink: sink, limit: limit,
		toW: make(chan []sinkItem), written: make(chan error),
		abandon: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

func (w *resultWriter) loop() {
	defer close(w.done)
	for items := range w.toW {
		pause := 10 * time.Millisecond
		for len(items) > 0 {
			n, err := w.sink.Put(items)
			items = items[n:]
			if err == nil {
				break
			}
			select {
			case w.written <- err:
			case <-w.abandon:
				w.sink.Abandon()
				return
			}
			select {
			case <-time.After(pause):
			case <-w.abandon:
				w.sink.Abandon()
				return
			}
			pause = min(2*pause, time.Second)
		}
		select {
		case w.written <- nil:
		case <-w.abandon:
			return
		}
	}
}

// add queues one result line.
func (w *resultWriter) add(line []byte, handle any) {
	w.pending = append(w.pending, sinkItem{line: line, handle: handle})
}

// full reports whether reading input should pause.
func (w *resultWriter) full() bool { return len(w.pending) >= w.limit || w.failing }

// offer returns the channel and batch the loop may send, or nil.
func (w *resultWriter) offer() (chan<- []sinkItem, []sinkItem) {
	if w.busy || len(w.pending) == 0 {
		return nil, nil
	}
	return w.toW, w.pending
}

// sent is called when the goroutine took the pending lines.
func (w *resultWriter) sent() {
	w.batch, w.pending, w.busy = w.pending, nil, true
}

// onWritten is a report of the goroutine: err nil when the batch is
// written, else a failure it retries.
func (w *resultWriter) onWritten(err error) {
	if err != nil {
		w.failing = true
		if !w.errSeen {
			w.errSeen = true
			w.r.log.Error("writing results failed; retrying", "error", err)
		}
		return
	}
	if w.failing {
		w.r.log.Info("writing results works again")
	}
	w.failing, w.busy, w.batch = false, false, nil
}

// idle reports whether every queued line is written.
func (w *resultWriter) idle() bool { return !w.busy && len(w.pending) == 0 }

// finish writes what is left once the loop is over, and ends the
// goroutine. A second stop signal, or stop_grace of failing writes, gives
// up on the rest.
func (w *resultWriter) finish(signals <-chan os.Signal) {
	var giveUp <-chan time.Time
	for !w.idle() {
		out, batch := w.offer()
		select {
		case out <- batch:
			w.sent()
		case err := <-w.written:
			w.onWritten(err)
			if err != nil && giveUp == nil {
				giveUp = time.After(w.r.cfg.stopGrace)
			}
		case sig := <-signals:
			if isStopSignal(sig) {
				w.r.log.Warn("received a stop signal while writing the last results; not writing the rest")
				w.abandoned = true
				close(w.abandon)
				<-w.done
				return
			}
		case <-giveUp:
			w.r.log.Error("writing results keeps failing; not writing the rest", "results", len(w.pending)+len(w.batch))
			w.abandoned = true
			close(w.abandon)
			<-w.done
			return
		}
	}
	close(w.toW)
	<-w.done
}

func isStopSignal(sig os.Signal) bool {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		return true
	}
	return false
}

var errLongReply = errors.New("reply longer than max_line")
