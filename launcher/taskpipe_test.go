package launcher

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
)

// A taskPipe never blocks its writer: what the pipe does not take is
// written by a goroutine, in order, and closeWhenWritten closes the pipe
// only after the last byte.
func TestTaskPipeKeepsOrderAndClosesAfterTheLastByte(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	p := newTaskPipe(w, &wg)
	var want bytes.Buffer
	for i := range 64 { // 64 lines of 4 KiB: four times what a pipe holds
		line := bytes.Repeat([]byte{byte('a' + i%26)}, 4095)
		line = append(line, '\n')
		want.Write(line)
		p.write(line) // returns at once, although nobody reads yet
	}
	p.mu.Lock()
	flushing := p.flushing
	p.mu.Unlock()
	if !flushing {
		t.Fatal("256 KiB went into a pipe without a reader")
	}
	p.closeWhenWritten()
	got, err := io.ReadAll(r) // ends at EOF: the pipe was closed after the last byte
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d, in order", len(got), want.Len())
	}
}

// A small write goes straight into the pipe, with no goroutine; a write to
// a pipe whose reader is gone marks it broken and is dropped.
func TestTaskPipeSmallWriteAndBrokenPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	p := newTaskPipe(w, &wg)
	p.write([]byte("hello\n"))
	if p.flushing {
		t.Fatal("a small write started a goroutine")
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "hello\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	r.Close()
	p.write([]byte("after\n"))
	if !p.broken {
		t.Fatal("a write to a pipe without reader is not marked broken")
	}
	p.Close()
	wg.Wait()
}
