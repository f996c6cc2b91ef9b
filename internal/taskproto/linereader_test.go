package taskproto_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the read buffer
	input := "a\n" + "\r\n" + "12345678\n" + "123456789\n" + long + "\n" + "\n" + "last"
	type item struct {
		line string
		n    int
		long bool
	}
	want := []item{{"a", 1, false}, {"\r", 1, false}, {"12345678", 8, false}, {"", 9, true}, {"", len(long), true}, {"", 0, false}, {"last", 4, false}}
	for _, r := range []io.Reader{strings.NewReader(input), iotest.OneByteReader(strings.NewReader(input))} {
		lr := taskproto.NewLineReader(r, 8)
		for i, w := range want {
			line, n, err := lr.ReadLine()
			if w.long != errors.Is(err, taskproto.ErrLineTooLong) || (!w.long && err != nil) {
				t.Fatalf("line %d: error %v, want too long %v", i, err, w.long)
			}
			if string(line) != w.line || n != w.n {
				t.Fatalf("line %d: got %q (n %d), want %q (n %d)", i, line, n, w.line, w.n)
			}
		}
		for range 2 {
			if line, n, err := lr.ReadLine(); err != io.EOF || line != nil || n != 0 {
				t.Fatalf("at the end: %q, %d, %v; want io.EOF", line, n, err)
			}
		}
	}
}

func TestLineReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	lr := taskproto.NewLineReader(io.MultiReader(strings.NewReader("whole\npart"), iotest.ErrReader(boom)), 0)
	if line, _, err := lr.ReadLine(); err != nil || string(line) != "whole" {
		t.Fatalf("got %q, %v", line, err)
	}
	for range 2 { // sticky, and the partial line is dropped
		if line, _, err := lr.ReadLine(); !errors.Is(err, boom) || line != nil {
			t.Fatalf("got %q, %v; want %v", line, err, boom)
		}
	}
	if msg := func() string {
		_, _, err := taskproto.NewLineReader(strings.NewReader("toolong"), 3).ReadLine()
		return err.Error()
	}(); msg != "line too long: 7 bytes, the limit is 3" {
		t.Errorf("error %q", msg)
	}
}

// HasLine tells whether the next ReadLine returns without reading: after
// a read that brought several lines, until the last whole one is taken.
func TestLineReaderHasLine(t *testing.T) {
	pr, pw := io.Pipe()
	lr := taskproto.NewLineReader(pr, 8)
	if lr.HasLine() {
		t.Fatal("HasLine before any read")
	}
	go func() { pw.Write([]byte("a\nbb\ncc")); pw.Write([]byte("c\n")); pw.Close() }()
	steps := []struct {
		line string
		has  bool
	}{{"a", true}, {"bb", false}, {"ccc", false}}
	for i, st := range steps {
		line, _, err := lr.ReadLine()
		if err != nil || string(line) != st.line || lr.HasLine() != st.has {
			t.Fatalf("step %d: %q %v, HasLine %v; want %q, %v", i, line, err, lr.HasLine(), st.line, st.has)
		}
	}
}
