package taskproto

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// modelItem is what the Reader should give for one line, worked out
// without it.
type modelItem struct {
	task Task
	err  string
}

// modelRead splits input into lines the simple way and applies the rules of
// Reader.Next: BOM, max_line, blank lines, ParseLine.
func modelRead(input string, maxLine int) (items []modelItem, lines, blank int) {
	if input == "" {
		return nil, 0, 0
	}
	segs := strings.Split(strings.TrimSuffix(input, "\n"), "\n")
	for i, seg := range segs {
		lineNo := i + 1
		if i == 0 {
			seg = strings.TrimPrefix(seg, "\xEF\xBB\xBF")
		}
		switch {
		case len(strings.TrimSuffix(seg, "\r")) > maxLine:
			items = append(items, modelItem{err: "line " + strconv.Itoa(lineNo) + " is longer than max_line (" + strconv.Itoa(maxLine) + " bytes)"})
		case strings.Trim(seg, " \t\r") == "":
			blank++
		default:
			task, err := ParseLine([]byte(seg), lineNo)
			if err != nil {
				items = append(items, modelItem{err: err.Error()})
			} else {
				items = append(items, modelItem{task: task})
			}
		}
	}
	return items, len(segs), blank
}

// checkReader reads input with a Reader whose read buffer is bufSize bytes
// and compares what it gives with modelRead.
func checkReader(t *testing.T, input string, maxLine, bufSize int) {
	t.Helper()
	want, lines, blank := modelRead(input, maxLine)
	r := newReaderSize(strings.NewReader(input), maxLine, bufSize)
	var tasks, invalid int
	for i := 0; ; i++ {
		task, err := r.Next()
		if err == io.EOF {
			break
		}
		if i >= len(want) {
			t.Fatalf("item %d: got %+v, %v, want io.EOF", i, task, err)
		}
		if err != nil {
			le, ok := errors.AsType[*LineError](err)
			if !ok || !errors.Is(err, ErrInvalidTask) {
				t.Fatalf("item %d: error %v is not a *LineError", i, err)
			}
			if le.ID == "" || le.Line < 1 || le.Line > lines {
				t.Fatalf("item %d: LineError{Line: %d, ID: %q}", i, le.Line, le.ID)
			}
			if err.Error() != want[i].err {
				t.Fatalf("item %d: error %q, want %q (task %+v)", i, err, want[i].err, want[i].task)
			}
			invalid++
			continue
		}
		if want[i].err != "" || task.ID != want[i].task.ID || string(task.Payload) != string(want[i].task.Payload) ||
			task.Line != want[i].task.Line || task.Timeout != want[i].task.Timeout || len(task.Carrier) != len(want[i].task.Carrier) {
			t.Fatalf("item %d: got %+v (payload %s), want %+v", i, task, task.Payload, want[i])
		}
		tasks++
	}
	if tasks+invalid != len(want) || tasks+invalid+blank != lines {
		t.Fatalf("%d tasks + %d invalid + %d blank lines, want %d items and %d lines", tasks, invalid, blank, len(want), lines)
	}
	if limit := max(maxLine+4, 64); cap(r.lr.buf) > 2*limit {
		t.Fatalf("line buffer grew to %d bytes with max_line %d", cap(r.lr.buf), maxLine)
	}
}

func TestReaderSmallBuffer(t *testing.T) {
	inputs := []string{
		"a\nbb\nccc\n",
		"0123456789abcdef0123\n0123456789\r\n0123456789a\r\n\r\n",
		"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\nok",
		"{\"id\":\"a\",\"payload\":\"0123456789abcdefghijklmnopqr\"}\n{\"id\":\"b\"}\n",
		"\xEF\xBB\xBF0123456789\n",
		"              \n \t \r\n",
	}
	for _, input := range inputs {
		for _, maxLine := range []int{1, 5, 10, 11, 12, 40, 100} {
			t.Run(strconv.Quote(input)+"/"+strconv.Itoa(maxLine), func(t *testing.T) {
				checkReader(t, input, maxLine, 16)
			})
		}
	}
}
