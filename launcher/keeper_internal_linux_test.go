package launcher

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A clean end does not wait for the keeper to get as far as reading its
// pipe: end kills a keeper that has not read "done" yet, and reap then
// reaps it. A short run (otel-qrun -- true) used to wait at exit for its
// keeper's whole start-up, a Go runtime starting from a 40 MB executable.
// Here the keeper never reads at all.
func TestKeeperEndDoesNotWaitForTheKeeper(t *testing.T) {
	script := filepath.Join(t.TempDir(), "keeper")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec /bin/sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k, err := startKeeper(script, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := k.pid
	ended := make(chan struct{})
	go func() { k.end(); k.end(); k.reap(); k.reap(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(60 * time.Second): // a bound of last resort
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-ended
		t.Fatal("end waited for a keeper that had not read done")
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("keeper %d after end and reap: kill 0 = %v, want ESRCH (ended and reaped)", pid, err)
	}
}

// The keeper starts at KeeperNice, out of the way of the launcher's
// start: every thread of it (a nice value is a thread's).
func TestKeeperStartsNice(t *testing.T) {
	k, err := startKeeper(os.Args[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { k.end(); k.reap() }()
	tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", k.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", k.pid, tid.Name()))
		if err != nil {
			continue // a thread gone
		}
		// Fields from the state on (proc(5)): the nice value is the 19th.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
		if nice, err := strconv.Atoi(f[16]); err != nil || nice != KeeperNice {
			t.Errorf("keeper thread %s at nice %q, want %d", tid.Name(), f[16], KeeperNice)
		}
	}
}

// The keeper is told the Run's cgroup by the name makeRunCgroup makes;
// when the mkdir fails, the name it was told names nothing (the keeper
// then has nothing to remove).
func TestRunCgroupToldToTheKeeper(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := &supervision{keeper: &keeperProc{pid: -1, pidfd: -1, w: w}}
	dir := t.TempDir()
	base, err := s.makeRunCgroup(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(base); err != nil || !st.IsDir() || filepath.Dir(base) != dir ||
		!strings.HasPrefix(filepath.Base(base), fmt.Sprintf("otel-qrun-%d-", os.Getpid())) {
		t.Errorf("run cgroup %q: %v", base, err)
	}
	if _, err := s.makeRunCgroup(filepath.Join(dir, "missing", "below")); err == nil {
		t.Error("a cgroup made under a directory that does not exist")
	}
	w.Close()
	told, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(told)), "\n")
	if len(lines) != 2 || lines[0] != "cgroup "+base {
		t.Fatalf("keeper told %q, want the cgroup %s first", lines, base)
	}
	if _, err := os.Stat(strings.TrimPrefix(lines[1], "cgroup ")); !os.IsNotExist(err) {
		t.Errorf("the failed name %q exists: %v", lines[1], err)
	}
}
