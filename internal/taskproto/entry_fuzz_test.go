package taskproto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// FuzzParseEntry: ParseEntry is ParseLine but for the generated id, which
// is the entry id.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"x", `{"id":"a"}`, `{"id":""}`, `{"id":"0"}`, `{"id":null,"timeout":-1}`, `{`, " ", "0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const gen = "1700000000000-0"
		task, err := taskproto.ParseEntry(data, gen)
		line, lerr := taskproto.ParseLine(bytes.Clone(data), 1)
		if (err == nil) != (lerr == nil) {
			t.Fatalf("ParseEntry error %v, ParseLine error %v", err, lerr)
		}
		if err != nil {
			var le *taskproto.LineError
			if !errors.As(err, &le) || le.Line != 0 || le.ID == "" {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if task.ID == "" || task.Line != 0 || !bytes.Equal(task.Payload, line.Payload) || task.Timeout != line.Timeout {
			t.Fatalf("ParseEntry = %+v, ParseLine = %+v", task, line)
		}
		if (line.ID == "1") != (task.ID == gen) && task.ID != "1" {
			t.Fatalf("ids: ParseEntry %q, ParseLine %q", task.ID, line.ID)
		}
	})
}
