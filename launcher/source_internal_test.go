package launcher

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// A line that a stop cuts in the input read so far (a file read in part)
// is cancelled under the id it shows already, not its line number.
func TestCutLineKeepsItsID(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"1\n" + `{"id":"last-one","payload":{"a":`, "last-one"},
		{"1\n" + `{"payload":1,"id":"la`, "2"}, // its id is cut too
		{"1\n" + `plain text, cut`, "2"},
	} {
		s := newLineSource(strings.NewReader(tc.input), 1024)
		if task, _, err := s.Next(); err != nil || task.ID != "1" {
			t.Fatalf("%q: first task %+v, %v", tc.input, task, err)
		}
		if blocked := s.Stop(); blocked {
			t.Fatalf("%q: Stop found a read under way", tc.input)
		}
		// A cut line that is still a task (plain text) is handed on, and
		// cancelled as every task read before a stop; one that is not
		// comes as cut.
		task, _, err := s.Next()
		var cut *cutLineError
		switch {
		case errors.As(err, &cut):
			if cut.id != tc.want {
				t.Errorf("%q: the line cut under id %q, want %q", tc.input, cut.id, tc.want)
			}
		case err != nil || task.ID != tc.want:
			t.Errorf("%q: after the stop %+v, %v; want the line under id %q", tc.input, task, err, tc.want)
		}
		for range 2 {
			if _, _, err = s.Next(); errors.Is(err, io.EOF) {
				break
			}
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("%q: the source goes on after the cut line: %v", tc.input, err)
		}
	}
}
