package launcher_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// stdin-digest reads stdin to its end and reports its length and SHA-256
// (a large payload would not fit in one record line).
func init() {
	workertest.Register("stdin-digest", func(struct{}) int {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 1
		}
		sum := sha256.Sum256(b)
		rec, _ := json.Marshal(workertest.Record{Event: "ready", Args: []string{strconv.Itoa(len(b)), hex.EncodeToString(sum[:])}})
		os.Stdout.Write(append(rec, '\n'))
		return 0
	})
}

// A per-task process reads its payload whole, then EOF, whatever its size:
// one that the pipe takes at once is written before the fork, a larger one
// is written as the process reads it.
func TestPerTaskPayloadSizes(t *testing.T) {
	sizes := map[string]int{"empty": 0, "small": 100, "pipe-buf": 4096, "pipe-buf+1": 4097, "large": 512 << 10}
	var input strings.Builder
	want := map[string]bool{}
	for id, n := range sizes {
		p := strings.Repeat("x", n)
		sum := sha256.Sum256([]byte(p))
		want[strconv.Itoa(n)+"/"+hex.EncodeToString(sum[:])] = true
		input.WriteString(`{"id":"` + id + `","payload":"` + p + `"}` + "\n")
	}
	th := startTasks(t, strings.NewReader(input.String()), launcher.WithPerTask(true), launcher.WithWorkers(3),
		launcher.WithEnviron(helperEnviron("stdin-digest")))
	status, res := th.all(t)
	if status != 0 || len(res) != len(sizes) {
		t.Fatalf("status %d, results %+v", status, res)
	}
	for _, r := range th.rest() {
		if len(r.Args) == 2 {
			delete(want, r.Args[0]+"/"+r.Args[1])
		}
	}
	for w := range want {
		t.Errorf("no process read the payload of length/digest %s", w)
	}
}
