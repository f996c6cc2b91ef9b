package launcher

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A clean end does not wait for the keeper to get as far as reading its
// pipe: close ends a keeper that has not read "done" yet, and reaps it. A
// short run (otel-qrun -- true) used to wait at exit for its keeper's whole
// start-up, a Go runtime starting from a 40 MB executable. Here the keeper
// never reads at all.
func TestKeeperCloseDoesNotWaitForTheKeeper(t *testing.T) {
	script := filepath.Join(t.TempDir(), "keeper")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec /bin/sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k, err := startKeeper(script, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	pid := k.pid
	closed := make(chan struct{})
	go func() { k.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second): // a bound of last resort
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-closed
		t.Fatal("close waited for a keeper that had not read done")
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("keeper %d after close: kill 0 = %v, want ESRCH (ended and reaped)", pid, err)
	}
}
