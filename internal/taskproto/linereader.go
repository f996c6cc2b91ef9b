package taskproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is matched, through errors.Is, by the error LineReader
// gives for a line longer than its limit.
var ErrLineTooLong = errors.New("line too long")

// LineReader reads "\n"-terminated lines of bounded length: the one
// implementation of the protocol's max_line rule, used for task input
// (Reader) and for workers' reply streams. Whatever the input, it holds at
// most limit bytes of a line (growing its line buffer only as a line needs)
// plus its read buffer; the rest of a longer line is read and dropped. It
// is not safe for concurrent use.
type LineReader struct {
	br    *bufio.Reader
	limit int
	buf   []byte // a line that spans several reads, up to limit bytes
	err   error  // sticky: io.EOF or the read error
	atEOF bool   // the input has ended; never read again
}

// NewLineReader returns a LineReader of r that gives lines of up to limit
// bytes, not counting the "\n" that ends them (a "\r" before it is part of
// the line). limit <= 0 means DefaultMaxLine. Its read buffer is 64 KiB.
func NewLineReader(r io.Reader, limit int) *LineReader {
	return newLineReaderSize(r, limit, readBufSize)
}

// newLineReaderSize is NewLineReader with a read buffer of bufSize bytes
// (at least 16), so that tests can make lines span several reads.
func newLineReaderSize(r io.Reader, limit, bufSize int) *LineReader {
	if limit <= 0 {
		limit = DefaultMaxLine
	}
	return &LineReader{br: bufio.NewReaderSize(r, bufSize), limit: limit}
}

// ReadLine returns the next line without its "\n", and n, the length of the
// whole line without the "\n". The slice is valid only until the next call
// (it may point into the read buffer): clone it to keep it.
//
// A line longer than the limit is read to its end and dropped: ReadLine
// returns a nil line, its length n, and an error wrapping ErrLineTooLong
// ("line too long: N bytes, the limit is M"); the next call reads the next
// line. The last line of the input needs no "\n". At the end of the input
// ReadLine returns io.EOF; a read error other than io.EOF is returned as is
// and a partial line read before it is dropped. Both are sticky: later
// calls return them again without reading.
func (r *LineReader) ReadLine() (line []byte, n int, err error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	line, n, err = r.readLine()
	switch {
	case err != nil:
		r.err = err
		return nil, 0, err
	case n > r.limit:
		return nil, n, fmt.Errorf("%w: %d bytes, the limit is %d", ErrLineTooLong, n, r.limit)
	}
	return line, n, nil
}

// HasLine reports whether a whole line is already buffered, so that the
// next ReadLine returns without reading. A reader of a pipe uses it to hand
// on every line one read gave before waiting for more.
func (r *LineReader) HasLine() bool {
	return r.hasLine(func(int, []byte) bool { return true })
}

// hasLine reports whether a whole line for which want is true is buffered:
// want gets each whole buffered line in turn (its index among them, and
// its bytes without the "\n") until it returns true.
func (r *LineReader) hasLine(want func(i int, line []byte) bool) bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	for i := 0; ; i++ {
		end := bytes.IndexByte(b, '\n')
		if end < 0 {
			return false
		}
		if want(i, b[:end]) {
			return true
		}
		b = b[end+1:]
	}
}

// readLine reads one line. It returns all of its bytes without the "\n"
// when the line has at most limit bytes, and n, the length of the whole
// line without the "\n". err is io.EOF only when the input ended before a
// line began.
func (r *LineReader) readLine() (line []byte, n int, err error) {
	r.buf = r.buf[:0]
	if r.atEOF {
		return nil, 0, io.EOF
	}
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch err {
		case nil:
			chunk = chunk[:len(chunk)-1]
		case bufio.ErrBufferFull:
		case io.EOF:
			r.atEOF = true
			if n == 0 && len(chunk) == 0 {
				return nil, 0, io.EOF
			}
		default:
			return nil, 0, err
		}
		first := n == 0
		n += len(chunk)
		switch {
		case first && err != bufio.ErrBufferFull:
			line = chunk // the whole line in one read: no copy
		case n <= r.limit:
			r.buf = append(r.buf, chunk...)
			line = r.buf
		}
		if err != bufio.ErrBufferFull {
			return line, n, nil
		}
	}
}
