package taskproto_test

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// item is what one call of Reader.Next gave: a task (ID, payload, line) or
// the text of an error.
type item struct {
	id      string
	payload string
	line    int
	err     string
}

// readAll calls Next until io.EOF or another error that is not a
// *LineError, and returns what each call gave.
func readAll(t *testing.T, r *taskproto.Reader) []item {
	t.Helper()
	var items []item
	for range 1000 {
		task, err := r.Next()
		switch le, ok := errors.AsType[*taskproto.LineError](err); {
		case err == nil:
			items = append(items, item{id: task.ID, payload: string(task.Payload), line: task.Line})
		case ok:
			if !errors.Is(err, taskproto.ErrInvalidTask) {
				t.Errorf("%v does not match ErrInvalidTask", err)
			}
			items = append(items, item{id: le.ID, line: le.Line, err: err.Error()})
		case err == io.EOF:
			return items
		default:
			return append(items, item{err: err.Error()})
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		maxLine int
		want    []item
	}{
		{"empty input", "", 0, nil},
		{"only newlines", "\n\n\r\n", 0, nil},
		{"lines", "a\nb\n", 0, []item{{id: "1", payload: `"a"`, line: 1}, {id: "2", payload: `"b"`, line: 2}}},
		{"last line without newline", "a\nb", 0, []item{{id: "1", payload: `"a"`, line: 1}, {id: "2", payload: `"b"`, line: 2}}},
		{"last object without newline", `{"id":"x"}`, 0, []item{{id: "x", payload: "null", line: 1}}},
		{"last line is a lone CR", "a\n\r", 0, []item{{id: "1", payload: `"a"`, line: 1}}},
		{
			"CRLF",
			"a\r\n{\"id\":\"b\",\"payload\":\"p\"}\r\nc\r\n",
			0,
			[]item{{id: "1", payload: `"a"`, line: 1}, {id: "b", payload: `"p"`, line: 2}, {id: "3", payload: `"c"`, line: 3}},
		},
		{
			"blank lines count for numbering",
			"\n  \n\t\r\na\n \r\nb",
			0,
			[]item{{id: "4", payload: `"a"`, line: 4}, {id: "6", payload: `"b"`, line: 6}},
		},
		{
			"invalid lines in the middle",
			"ok1\n{bad\n{\"id\":\"n\",\"timeout\":-1}\nok2\n",
			0,
			[]item{
				{id: "1", payload: `"ok1"`, line: 1},
				{id: "2", line: 2, err: "line 2 starts with { but is not valid JSON: invalid character 'b' looking for beginning of object key string at byte offset 2"},
				{id: "n", line: 3, err: `line 3 has a negative "timeout" (-1 seconds)`},
				{id: "4", payload: `"ok2"`, line: 4},
			},
		},
		{
			"line ending mid-object",
			"a\n{\"id\":\"x\",",
			0,
			[]item{
				{id: "1", payload: `"a"`, line: 1},
				{id: "2", line: 2, err: "line 2 starts with { but is not valid JSON: unexpected end of JSON input at byte offset 10"},
			},
		},
		{
			"max_line exact",
			"12345\n123456\n12345\r\n123456\r\n12345",
			5,
			[]item{
				{id: "1", payload: `"12345"`, line: 1},
				{id: "2", line: 2, err: "line 2 is longer than max_line (5 bytes)"},
				{id: "3", payload: `"12345"`, line: 3},
				{id: "4", line: 4, err: "line 4 is longer than max_line (5 bytes)"},
				{id: "5", payload: `"12345"`, line: 5},
			},
		},
		{
			"long blank line is invalid",
			"        \nok",
			4,
			[]item{{id: "1", line: 1, err: "line 1 is longer than max_line (4 bytes)"}, {id: "2", payload: `"ok"`, line: 2}},
		},
		{
			"long last line without newline",
			"ok\n1234567890",
			4,
			[]item{{id: "1", payload: `"ok"`, line: 1}, {id: "2", line: 2, err: "line 2 is longer than max_line (4 bytes)"}},
		},
		{
			"byte order mark dropped",
			"\xEF\xBB\xBF{\"id\":\"x\"}\n\xEF\xBB\xBFy",
			10,
			[]item{{id: "x", payload: "null", line: 1}, {id: "2", payload: "\"\uFEFFy\"", line: 2}},
		},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got := readAll(t, taskproto.NewReader(rd.wrap(strings.NewReader(tt.input)), tt.maxLine))
				if len(got) != len(tt.want) {
					t.Fatalf("got %d items, want %d:\n got %+v\nwant %+v", len(got), len(tt.want), got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("item %d\n got %+v\nwant %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

// repeatReader reads the same byte forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestReaderLongLineBoundedMemory(t *testing.T) {
	const size = 10 << 20
	input := io.MultiReader(
		strings.NewReader("first\n"),
		io.LimitReader(repeatReader('x'), size),
		strings.NewReader("\n{\"id\":\"after\",\"payload\":[1]}\n"),
	)
	r := taskproto.NewReader(input, 1024)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := readAll(t, r)
	runtime.ReadMemStats(&after)

	want := []item{
		{id: "1", payload: `"first"`, line: 1},
		{id: "2", line: 2, err: "line 2 is longer than max_line (1024 bytes)"},
		{id: "after", payload: "[1]", line: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("item %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// The 10 MiB line goes through a 64 KiB buffer; nothing near its size is
	// allocated.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading a %d-byte line allocated %d bytes", size, alloc)
	}
}

func TestReaderLongLineWithinMaxLine(t *testing.T) {
	// A line longer than the read buffer but within max_line is read whole.
	long := strings.Repeat("y", 200<<10)
	r := taskproto.NewReader(strings.NewReader(long+"\r\nz\n"), 200<<10)
	task, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + long + `"`; string(task.Payload) != want || task.ID != "1" {
		t.Errorf("got task %q with a %d-byte payload, want a %d-byte one", task.ID, len(task.Payload), len(want))
	}
	if task, err = r.Next(); err != nil || task.ID != "2" {
		t.Errorf("Next() = %+v, %v, want task 2", task, err)
	}
}

func TestReaderDefaultMaxLine(t *testing.T) {
	ok := strings.Repeat("a", taskproto.DefaultMaxLine)
	r := taskproto.NewReader(strings.NewReader(ok+"\n"+ok+"a\n"), 0)
	if task, err := r.Next(); err != nil || len(task.Payload) != taskproto.DefaultMaxLine+2 {
		t.Fatalf("line of max_line bytes: %d-byte payload, %v", len(task.Payload), err)
	}
	_, err := r.Next()
	if want := "line 2 is longer than max_line (1048576 bytes)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := taskproto.NewReader(io.MultiReader(strings.NewReader("a\nb\npartial"), iotest.ErrReader(boom)), 0)
	for _, want := range []string{"1", "2"} {
		task, err := r.Next()
		if err != nil || task.ID != want {
			t.Fatalf("Next() = %+v, %v, want task %s", task, err, want)
		}
	}
	for range 2 {
		if _, err := r.Next(); err != boom {
			t.Fatalf("Next() error = %v, want the read error as is", err)
		}
	}
}

func TestReaderErrorAfterLines(t *testing.T) {
	r := taskproto.NewReader(iotest.TimeoutReader(strings.NewReader("a\nb\n")), 0)
	// TimeoutReader fails the second read: the first read got both lines.
	for _, want := range []string{"1", "2"} {
		if task, err := r.Next(); err != nil || task.ID != want {
			t.Fatalf("Next() = %+v, %v, want task %s", task, err, want)
		}
	}
	if _, err := r.Next(); err != iotest.ErrTimeout {
		t.Fatalf("Next() error = %v, want %v", err, iotest.ErrTimeout)
	}
}

// eofOnceReader fails the test when it is read again after io.EOF, as a
// terminal would block.
type eofOnceReader struct {
	t    *testing.T
	r    io.Reader
	done bool
}

func (e *eofOnceReader) Read(p []byte) (int, error) {
	if e.done {
		e.t.Error("read again after io.EOF")
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.done = true
	}
	return n, err
}

func TestReaderEOFIsSticky(t *testing.T) {
	for input, want := range map[string]int{"a\nb": 2, "a\nb\n": 2, "": 0, "\n": 0} {
		r := taskproto.NewReader(&eofOnceReader{t: t, r: strings.NewReader(input)}, 0)
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		for range 3 {
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("Next() after the end = %v, want io.EOF", err)
			}
		}
		if n != want {
			t.Errorf("input %q: %d tasks, want %d", input, n, want)
		}
	}
}

// Buffered is true only when Next returns without reading: a whole line
// that is not blank is buffered (blank lines alone make Next read on).
func TestReaderBuffered(t *testing.T) {
	for _, tc := range []struct {
		input string // a first line, then what is buffered after it
		want  bool
	}{
		{"a\n\n", false},
		{"a\n \t\r\n", false},
		{"a\n\n\n  \n", false},
		{"a\n\nb\n", true},
		{"a\nb\n", true},
		{"a\nb", false},  // not whole yet
		{"a\n{\n", true}, // a LineError: still no read
	} {
		r := taskproto.NewReader(strings.NewReader(tc.input), 1024)
		if _, err := r.Next(); err != nil {
			t.Fatalf("%q: Next: %v", tc.input, err)
		}
		if got := r.Buffered(); got != tc.want {
			t.Errorf("%q: Buffered() = %v, want %v", tc.input, got, tc.want)
		}
	}
}
