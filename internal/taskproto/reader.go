package taskproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// DefaultMaxLine is the max_line that NewReader uses when given 0 or less:
// the default of the max_line setting (1 MiB).
const DefaultMaxLine = qrun.DefaultMaxLine

// readBufSize is the size of the Reader's read buffer. A line longer than
// this is gathered in a second buffer, up to max_line; beyond max_line its
// bytes are read and dropped.
const readBufSize = 64 << 10

// utf8BOM is the byte order mark that some editors put at the start of a
// file; the Reader drops it from the first line.
var utf8BOM = []byte("\xEF\xBB\xBF")

// Reader reads tasks from lines of input, one task per line. Lines end with
// "\n" or "\r\n"; the last line needs no newline. It is not safe for
// concurrent use.
type Reader struct {
	lr      *LineReader // limit maxLine+4: room for a BOM and a CR
	maxLine int
	lineNo  int // number of the last line read
}

// NewReader returns a Reader of the lines of r that accepts lines of up to
// maxLine bytes, not counting the "\n" or "\r\n" that ends them. maxLine <= 0
// means DefaultMaxLine. Whatever the input, the Reader holds at most
// maxLine+4 bytes of a line (growing its line buffer only as a line needs),
// plus a 64 KiB read buffer: the rest of a longer line is read and dropped.
func NewReader(r io.Reader, maxLine int) *Reader {
	return newReaderSize(r, maxLine, readBufSize)
}

// newReaderSize is NewReader with a read buffer of bufSize bytes (at least
// 16), so that tests can make lines span several reads.
func newReaderSize(r io.Reader, maxLine, bufSize int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{lr: newLineReaderSize(r, maxLine+4, bufSize), maxLine: maxLine}
}

// Next returns the next task.
//
// A line that is not a task gives a *LineError (which matches
// ErrInvalidTask), and the Reader carries on with the next line: a line
// longer than max_line ("line N is longer than max_line (M bytes)", checked
// before anything else, even for a line of spaces, and read past without
// being held in memory), or a line that ParseLine rejects. Blank lines (only
// spaces, tabs and CRs) are skipped; they count for line numbers, not as
// tasks. A UTF-8 byte order mark at the very start of the input is dropped.
//
// At the end of the input Next returns io.EOF, after the last line even when
// that line has no final newline. A read error other than io.EOF is returned
// as is (a partial line read before it is dropped). Both are sticky: later
// calls return them again without reading.
func (r *Reader) Next() (Task, error) {
	for {
		line, _, err := r.lr.ReadLine()
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			return Task{}, err
		}
		r.lineNo++
		if r.lineNo == 1 && bytes.HasPrefix(line, utf8BOM) {
			line = line[len(utf8BOM):]
		}
		if err != nil || len(bytes.TrimSuffix(line, []byte{'\r'})) > r.maxLine {
			return Task{}, &LineError{
				Line: r.lineNo,
				ID:   strconv.Itoa(r.lineNo),
				Err:  fmt.Errorf("is longer than max_line (%d bytes)", r.maxLine),
			}
		}
		if skipSpace(line, 0) == len(line) {
			continue
		}
		return ParseLine(line, r.lineNo)
	}
}

// Buffered reports whether the next Next returns without reading: a whole
// line that is not blank is already buffered (Next skips blank lines, and
// would read past buffered blank lines alone). That line may still be a
// LineError. A reader of a pipe uses it to hand on every task one read
// gave before waiting for more.
func (r *Reader) Buffered() bool {
	return r.lr.hasLine(func(_ int, line []byte) bool { return skipSpace(line, 0) < len(line) })
}
