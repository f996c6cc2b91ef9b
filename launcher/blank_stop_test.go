package launcher_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// A task followed by a blank line in one write, then a pause of the
// producer: the task is handed on before the read that waits (the blank
// line alone does not make Next return), so it runs, and a SIGTERM then
// leaves it its result. (The reading goroutine used to skip the blank line
// and wait with the task still in its batch: no result, exit 0.)
func TestBlankLineHoldsTaskAcrossStop(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	in := readCalls{r: pr, calls: make(chan struct{}, 16)}
	th := startTasksCmd(t, nil, in, launcher.WithEnviron(helperEnviron("taskworker")), launcher.WithQueueLimit(8))
	waitRead := func() {
		t.Helper()
		select {
		case <-in.calls:
		case <-time.After(patience):
			t.Fatal("the launcher never read its input")
		}
	}
	waitRead()
	if _, err := pw.WriteString(`{"id":"held","payload":1}` + "\n\n"); err != nil {
		t.Fatal(err)
	}
	waitRead() // the read after the blank line: it waits
	th.sigs <- syscall.SIGTERM
	status, res := th.all(t)
	if _, ok := res["held"]; !ok {
		t.Errorf("task held: no result (status %d), results %+v", status, res)
	}
}
