package workertest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TaskWorker drives a persistent task mode worker as the launcher does:
// task lines on its stdin, reply lines read from file descriptor 3
// (QRUN_RESULT_FD=3 is added to its environment).
type TaskWorker struct {
	Cmd *exec.Cmd
	// Stdin is where task lines go; closing it asks the worker to stop.
	Stdin *os.File
	// Replies delivers each reply line; it is closed when fd 3 ends. A
	// readiness line ({"ready":true}) is not a reply: it closes Ready.
	Replies chan string
	// Ready is closed when the worker wrote its readiness line.
	Ready  chan struct{}
	stderr LockedBuffer
}

// StartTaskWorker starts cmd as a persistent task worker; t.Cleanup kills
// it if the test has not stopped it.
func StartTaskWorker(t testing.TB, cmd *exec.Cmd) *TaskWorker {
	t.Helper()
	w := &TaskWorker{Cmd: cmd, Replies: make(chan string, 16), Ready: make(chan struct{})}
	cmd.Env = append(cmd.Env, "QRUN_RESULT_FD=3")
	cmd.Stderr = &w.stderr
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	replyR, replyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdinR
	cmd.ExtraFiles = []*os.File{replyW} // fd 3
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	replyW.Close()
	w.Stdin = stdinW
	go func() {
		defer close(w.Replies)
		defer replyR.Close()
		sc := bufio.NewScanner(replyR)
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		ready := false
		for sc.Scan() {
			if !ready && strings.TrimSpace(sc.Text()) == `{"ready":true}` {
				ready = true
				close(w.Ready)
				continue
			}
			w.Replies <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		w.Stdin.Close()
		w.Cmd.Process.Kill()
		w.Cmd.Wait()
	})
	return w
}

// Send writes one task line.
func (w *TaskWorker) Send(t testing.TB, line string) {
	t.Helper()
	if _, err := w.Stdin.WriteString(line + "\n"); err != nil {
		t.Fatalf("write task line: %v; stderr:\n%s", err, w.Stderr())
	}
}

// WaitReady waits for the worker's readiness line; it fails the test when
// fd 3 ends first or the line does not come (a last-resort bound).
func (w *TaskWorker) WaitReady(t testing.TB) {
	t.Helper()
	select {
	case <-w.Ready:
	case r, ok := <-w.Replies:
		if ok {
			t.Fatalf("reply %q before the readiness line; stderr:\n%s", r, w.Stderr())
		}
		t.Fatalf("the worker closed its reply channel before its readiness line; stderr:\n%s", w.Stderr())
	case <-time.After(patience):
		t.Fatalf("no readiness line within %s; stderr:\n%s", patience, w.Stderr())
	}
}

// patience bounds each wait on the worker, as a last resort on a loaded
// machine: every wait ends at the event it waits for.
const patience = 2 * time.Minute

// Reply waits for the next reply line.
func (w *TaskWorker) Reply(t testing.TB) string {
	t.Helper()
	select {
	case r, ok := <-w.Replies:
		if !ok {
			t.Fatalf("the worker closed its reply channel; stderr:\n%s", w.Stderr())
		}
		return r
	case <-time.After(patience):
		t.Fatalf("no reply within %s; stderr:\n%s", patience, w.Stderr())
	}
	return ""
}

// Wait waits for the worker to exit and returns what exec.Cmd.Wait says.
func (w *TaskWorker) Wait(t testing.TB) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatalf("the worker did not exit within %s; stderr:\n%s", patience, w.Stderr())
	}
	return nil
}

// Stderr is what the worker wrote on stderr so far.
func (w *TaskWorker) Stderr() string { return w.stderr.String() }

// LockedBuffer is a bytes.Buffer that a process's output and a test may use
// at the same time.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
