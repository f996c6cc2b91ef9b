package taskproto_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

func TestCutLineID(t *testing.T) {
	for _, tc := range []struct {
		partial string
		line    int
		want    string
	}{
		{`{"id":"job-7","payload":{"x":`, 3, "job-7"},
		{`{"payload":1,"id":"a"`, 3, "a"},
		{` {"id" : "sp aced" ,`, 3, "sp aced"},
		{`{"id":"job-`, 3, "3"},           // the id itself is cut
		{`{"id":`, 3, "3"},                // no value yet
		{`{"id"`, 3, "3"},                 // no colon yet
		{`{"payload":"x","i`, 4, "4"},     // a key cut
		{`{"payload":{"id":"in"`, 4, "4"}, // nested: not the task's id
		{`{"id":null,"p`, 5, "5"},         // null: the line number, as ParseLine
		{`{"id":"","p`, 5, "5"},           // empty: the line number
		{`{"id":7,`, 5, "5"},              // not a string: the line is no task
		{`{"id":"a\u0000b",`, 5, "5"},     // NUL
		{`{"id":"a","id":"b",`, 6, "b"},   // the last whole one, as ParseLine
		{`{"id":"a","id":"b`, 6, "a"},     // the last one is cut: the one before
		{`{"id":"\u00e9t\u00e9"`, 6, "été"},
		{"{\"id\":\"a\xffb\"", 6, "a\uFFFDb"},     // invalid UTF-8, as ParseLine
		{"\xEF\xBB\xBF{\"id\":\"bom\"", 1, "bom"}, // BOM on line 1
		{"\xEF\xBB\xBF{\"id\":\"bom\"", 2, "2"},   // not on another line
		{`plain text cut`, 7, "7"},
		{``, 8, "8"},
		{`   `, 8, "8"},
		{`[{"id":"x"}`, 9, "9"},
		{`{"id":"x"}{"id":"y"`, 9, "x"},
		{`{{{{`, 9, "9"},
		{`{"\u0069d":"escaped key"`, 10, "escaped key"},
	} {
		if got := taskproto.CutLineID([]byte(tc.partial), tc.line); got != tc.want {
			t.Errorf("CutLineID(%q, %d) = %q, want %q", tc.partial, tc.line, got, tc.want)
		}
	}
}

// FuzzCutLineID: for a whole task line CutLineID gives ParseLine's id (an
// implementation of its own: ParseLine walks the members itself); for
// every start of the line it gives the line number or an id a task may
// have (non-empty, no NUL), and never panics.
func FuzzCutLineID(f *testing.F) {
	for _, s := range []string{`{"id":"a","payload":1}`, `{"id":"a","id":"b"}`, `{"payload":{"id":"x"},"id":"y"}`,
		`{"id":null}`, `plain`, "\xEF\xBB\xBF{\"id\":\"bom\"}", `{"id":"\u00e9"}`, `{"\u0069d":"k"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		const lineNo = 1
		fallback := strconv.Itoa(lineNo)
		// Reader drops a byte order mark at the start of line 1 before
		// ParseLine sees the line.
		parsed := bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		if task, err := taskproto.ParseLine(parsed, lineNo); err == nil && bytes.IndexByte(line, '\n') < 0 {
			if got := taskproto.CutLineID(line, lineNo); got != task.ID {
				t.Fatalf("CutLineID(%q) = %q, ParseLine's id is %q", line, got, task.ID)
			}
		}
		for k := 0; k < len(line); k++ {
			got := taskproto.CutLineID(line[:k], lineNo)
			if got != fallback && (got == "" || strings.IndexByte(got, 0) >= 0) {
				t.Fatalf("CutLineID(%q) = %q: no task has that id", line[:k], got)
			}
		}
	})
}
