package taskproto_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

func ExampleReader() {
	input := "hello\n" +
		"\n" +
		`{"id":"mail-1","payload":{"to":"a@b"},"timeout":30}` + "\n" +
		`{"id":"mail-2",` + "\n" +
		"last line without a newline"
	r := taskproto.NewReader(strings.NewReader(input), 1024)
	for {
		task, err := r.Next()
		if err == io.EOF {
			break
		}
		if le, ok := errors.AsType[*taskproto.LineError](err); ok {
			fmt.Printf("invalid %s: %v\n", le.ID, err)
			continue
		}
		fmt.Printf("task %s (line %d): %s timeout=%v\n", task.ID, task.Line, task.Payload, task.Timeout)
	}
	// Output:
	// task 1 (line 1): "hello" timeout=0s
	// task mail-1 (line 3): {"to":"a@b"} timeout=30s
	// invalid 4: line 4 starts with { but is not valid JSON: unexpected end of JSON input at byte offset 15
	// task 5 (line 5): "last line without a newline" timeout=0s
}

func ExampleAppendWorkerTask() {
	task, _ := taskproto.ParseLine([]byte(`{"id":"mail-1","payload":{"to":"<a@b>"}}`), 1)
	line := taskproto.AppendWorkerTask(nil, taskproto.WorkerTask{
		ID:      task.ID,
		Payload: task.Payload,
		Carrier: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		Attempt: 1,
	})
	os.Stdout.Write(line)
	// Output:
	// {"id":"mail-1","payload":{"to":"<a@b>"},"carrier":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"attempt":1}
}

func ExampleAppendResult() {
	reply, _ := taskproto.ParseReply([]byte(`{"id":"mail-1","ok":true,"result":{"queued":true}}`))
	line := taskproto.AppendResult(nil, taskproto.Result{
		ID:       reply.ID,
		Status:   taskproto.StatusOK,
		Attempts: 1,
		Duration: 250 * time.Millisecond,
		TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
		Worker:   0,
		Result:   reply.Result,
	})
	os.Stdout.Write(line)
	// Output:
	// {"id":"mail-1","status":"ok","attempts":1,"duration_s":0.25,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","worker":0,"result":{"queued":true}}
}

func ExamplePayloadBytes() {
	raw, _ := taskproto.ParseLine([]byte("convert a.png"), 1)
	obj, _ := taskproto.ParseLine([]byte(`{"payload":{"file":"a.png"}}`), 2)
	fmt.Printf("%s\n%s\n", taskproto.PayloadBytes(raw.Payload), taskproto.PayloadBytes(obj.Payload))
	// Output:
	// convert a.png
	// {"file":"a.png"}
}
