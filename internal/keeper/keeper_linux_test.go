package keeper

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(raiseHelperEnv) == "1" {
		os.Exit(raiseHelper())
	}
	if os.Getenv(blockHelperEnv) == "1" {
		var b [1]byte
		_, _ = os.Stdin.Read(b[:])
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// raiseHelperEnv makes the test binary the helper of
// TestRaisePriorityReachesEveryThread.
const raiseHelperEnv = "KEEPER_TEST_RAISE_HELPER"

// raiseHelper, in a process group of its own as the keeper is, sets every
// thread to nice 19 as the launcher does, makes sure it has several
// threads, calls raisePriority, and prints each thread's nice value.
func raiseHelper() int {
	if err := syscall.Setpriority(syscall.PRIO_PGRP, 0, 19); err != nil {
		fmt.Println("setpriority:", err)
		return 1
	}
	started := make(chan struct{})
	for range 3 {
		go func() {
			runtime.LockOSThread() // a thread of its own, for good
			started <- struct{}{}
			select {}
		}()
	}
	for range 3 {
		<-started
	}
	raisePriority()
	names, _ := readDirNames("/proc/self/task")
	for _, tid := range names {
		fmt.Println(tid, threadNice("/proc/self/task/"+tid+"/stat"))
	}
	return 0
}

// threadNice reads the nice value in a stat file of proc(5) (its 19th
// field), or -100 when it cannot.
func threadNice(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -100
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		return -100
	}
	return n
}

// raisePriority brings every thread of the keeper back to nice 0, not only
// the one that calls it: the killing goroutine may run on any.
func TestRaisePriorityReachesEveryThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lowering a nice value needs root or CAP_SYS_NICE")
	}
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), raiseHelperEnv+"=1")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 4 {
		t.Fatalf("helper reported %d threads, want at least 4:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if tid, nice, _ := strings.Cut(l, " "); nice != "0" {
			t.Errorf("thread %s at nice %s after raisePriority, want 0", tid, nice)
		}
	}
}

// marked starts a process whose environment carries a fresh marker; it is
// killed at the end of the test if it is still there.
func marked(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	c := exec.Command("sleep", "600")
	c.Env = []string{"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + id}
	if err := c.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c, id
}

// fakeCgroup is a directory laid out as the Run's cgroup: one worker
// cgroup below it. (A plain directory: cgroup.kill becomes a file.)
func fakeCgroup(t *testing.T) string {
	t.Helper()
	base := t.TempDir() + "/otel-qrun-test"
	if err := os.MkdirAll(base+"/w1", 0o755); err != nil {
		t.Fatal(err)
	}
	fs := cgroupFS
	cgroupFS = func(dir string) bool { return dir == base || dir == filepath.Dir(base) }
	t.Cleanup(func() { cgroupFS = fs })
	return base
}

func alive(c *exec.Cmd) bool { return c.Process.Signal(syscall.Signal(0)) == nil }

// After "done" the keeper kills nothing, whatever it was told before.
// raised replaces raisePriority for a test and reports whether it was
// called.
func raised(t *testing.T) *bool {
	called := new(bool)
	old := raisePriority
	raisePriority = func() { *called = true }
	t.Cleanup(func() { raisePriority = old })
	return called
}

func TestDoneKillsNothing(t *testing.T) {
	raisedPriority := raised(t)
	c, id := marked(t)
	base := fakeCgroup(t)
	in := strings.NewReader("cgroup " + base + "\nmark " + id + "\ndone\nmark other\n")
	if status := Run(in); status != 0 {
		t.Fatalf("status %d", status)
	}
	if !alive(c) {
		t.Error("a marked process was killed after done")
	}
	if _, err := os.Stat(base + "/cgroup.kill"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cgroup.kill written after done: %v", err)
	}
	if _, err := os.Stat(base + "/w1"); err != nil {
		t.Errorf("worker cgroup removed after done: %v", err)
	}
	if *raisedPriority {
		t.Error("the keeper raised its priority after done")
	}
}

// When its input ends without "done" (the launcher died), the keeper kills
// the cgroup tree, removes the workers' cgroups, and kills every process
// that carries a marker still marked.
func TestEndWithoutDoneKillsTheTrees(t *testing.T) {
	raisedPriority := raised(t)
	c, id := marked(t)
	gone, goneID := marked(t)
	base := fakeCgroup(t)
	in := strings.NewReader("cgroup " + base + "\nmark " + id + "\nmark " + goneID + "\nunmark " + goneID + "\n")
	if status := Run(in); status != 0 {
		t.Fatalf("status %d", status)
	}
	err := c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("marked process ended with %v, want SIGKILL", err)
	}
	if !alive(gone) {
		t.Error("an unmarked process was killed")
	}
	if b, err := os.ReadFile(base + "/cgroup.kill"); err != nil || !bytes.Equal(b, []byte("1")) {
		t.Errorf("cgroup.kill = %q, %v; want 1", b, err)
	}
	if _, err := os.Stat(base + "/w1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("worker cgroup not removed: %v", err)
	}
	if !*raisedPriority {
		t.Error("the keeper killed without raising its priority first")
	}
}

// read takes the orders of the protocol; lines it does not know, and lines
// without an argument (an empty marker would match every process), are
// ignored. Run acts on what read returns, so these cases are checked
// without killing anything.
func TestRead(t *testing.T) {
	const a, b = "0b7f3c2e-9a41-4d3b-8f25-6c1e2d9a7b10", "7D5E1A20-3C4B-4E6F-9A8B-1C2D3E4F5A6B"
	long := strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		in      string
		base    string
		markers []string
		done    bool
	}{
		{in: ""},
		{in: "\n\n"},
		{in: "done\n", done: true},
		{in: "mark " + a + "\ndone\nmark " + b + "\n", done: true},
		{in: "mark\n"},
		{in: "mark \n"},
		{in: "mark   \n"},
		{in: "cgroup\n"},
		{in: "cgroup \n"},
		{in: "unmark\n"},
		{in: "bogus x\nMARK " + a + "\n"},
		// Not markers the launcher makes: each would match far too much.
		{in: "mark =\nmark \x00\nmark a\nmark Z\nmark service.instance.id\n"},
		{in: "mark " + a[:35] + "\nmark " + a + "0\nmark " + strings.ReplaceAll(a, "-", "x") + "\n"},
		{in: "cgroup relative/dir\n"},
		{in: "cgroup /c\nmark " + a + "\n", base: "/c", markers: []string{a}},
		{in: "cgroup /c\ncgroup /d\n", base: "/d"},
		{in: "mark " + a + "\nmark " + a + "\nmark " + b + "\nunmark " + b + "\nunmark zz\n", markers: []string{a}},
		{in: "mark " + a, markers: []string{a}}, // no final newline
		{in: "mark  " + a + " \n", markers: []string{a}},
		// A line too long is skipped whole; reading goes on.
		{in: "mark " + a + "\n" + long + "\ndone\n", done: true},
		{in: long + "\nmark " + a + "\n", markers: []string{a}},
		{in: "mark " + long + "\nmark " + a + "\n", markers: []string{a}},
		{in: "mark " + a + "\n" + long, markers: []string{a}},
	} {
		o, done := readAll(tc.in)
		var got []string
		for _, m := range o.markers {
			got = append(got, string(m))
		}
		slices.Sort(got)
		if done != tc.done || o.base != tc.base || strings.Join(got, ",") != strings.Join(tc.markers, ",") {
			t.Errorf("read(%.80q) = base %q markers %q done %v; want %q %q %v", tc.in, o.base, got, done, tc.base, tc.markers, tc.done)
		}
	}
}

// readAll reads the protocol in with a fork watch of this process's
// children, ended after.
func readAll(in string) (orders, bool) {
	w := &forkWatch{parent: os.Getpid()}
	defer w.forked()
	return read(strings.NewReader(in), w)
}

// The keeper kills nothing in a directory that is not a Run's cgroup,
// whatever the cgroup line names.
func TestEndWithoutDoneLeavesOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if status := Run(strings.NewReader("cgroup " + dir + "\n")); status != 0 {
		t.Fatalf("status %d", status)
	}
	if _, err := os.Stat(dir + "/cgroup.kill"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cgroup.kill written in a plain directory: %v", err)
	}
	if _, err := os.Stat(dir + "/sub"); err != nil {
		t.Errorf("a subdirectory of a plain directory was removed: %v", err)
	}
}

// FuzzRead: no input makes read return a marker that is not a UUID, or
// panic.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"mark a\n", "mark \n", "cgroup /x\nmark b\nunmark b\n", "done\n", "\x00mark \x00\n", "fork\nforked\nfork\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		o, _ := readAll(in)
		for _, m := range o.markers {
			if !isMarker(string(m)) {
				t.Fatalf("read(%q) returned the marker %q, not a UUID", in, m)
			}
		}
	})
}

// ReadPids reads the pids of a cgroup.procs file, skipping what is not
// one.
func TestReadPids(t *testing.T) {
	p := t.TempDir() + "/cgroup.procs"
	if err := os.WriteFile(p, []byte("12\n7\nx\n-3\n0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := ReadPids(p)
	if len(got) != 2 || got[0] != 12 || got[1] != 7 {
		t.Errorf("ReadPids = %v, want [12 7]", got)
	}
	if got := ReadPids(p + ".missing"); got != nil {
		t.Errorf("ReadPids of a missing file = %v", got)
	}
}

// Started with Env=1, a program that links this package runs as the keeper
// during package initialization: this test binary, told "done", exits 0
// without running a test.
func TestKeeperRunsDuringInit(t *testing.T) {
	c := exec.Command(os.Args[0], "-test.run", "^$", "-test.v")
	c.Env = []string{Env + "=1"}
	c.Stdin = strings.NewReader("done\n")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("keeper: %v\n%s", err, out)
	}
	if len(out) != 0 {
		t.Errorf("the test binary ran its tests instead of the keeper:\n%s", out)
	}
}

// CarriesMarker matches the whole service.instance.id attribute of
// OTEL_RESOURCE_ATTRIBUTES, nothing that merely contains the marker.
func TestCarriesMarker(t *testing.T) {
	const u = "0a1b2c3d-0000-4000-8000-00000000abcd"
	env := func(kv ...string) []byte { return []byte(strings.Join(kv, "\x00") + "\x00") }
	for _, tc := range []struct {
		env  []byte
		want bool
	}{
		{env("OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + u), true},
		{env("A=1", "OTEL_RESOURCE_ATTRIBUTES=a=b,service.instance.id="+u+",qrun.worker.index=0", "B=2"), true},
		{env("OTEL_RESOURCE_ATTRIBUTES=a=b, service.instance.id = " + u + " "), true},
		{env("OTEL_RESOURCE_ATTRIBUTES=x.service.instance.id=" + u), false},
		{env("OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + u + "ff"), false},
		{env("OTHER=service.instance.id=" + u), false},
		{env("OTEL_RESOURCE_ATTRIBUTES_X=service.instance.id=" + u), false},
		{env("X=" + u), false},
		{nil, false},
	} {
		if got := CarriesMarker(tc.env, []byte(u)); got != tc.want {
			t.Errorf("CarriesMarker(%q) = %v, want %v", tc.env, got, tc.want)
		}
	}
	if CarriesMarker(env("OTEL_RESOURCE_ATTRIBUTES=service.instance.id="), nil) {
		t.Error("an empty marker matched")
	}
}

// A cgroup line is acted on only for a Run's cgroup: a symbolic link named
// otel-qrun-… to a cgroup, a path with "..", or a directory whose parent is
// not a cgroup is refused.
func TestRunCgroup(t *testing.T) {
	root := t.TempDir()
	cg := root + "/cgroups/otel-qrun-1"
	if err := os.MkdirAll(cg+"/w1", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cg, root+"/otel-qrun-link"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(root+"/plain/otel-qrun-2", 0o755); err != nil {
		t.Fatal(err)
	}
	fs := cgroupFS
	defer func() { cgroupFS = fs }()
	cgroupFS = func(dir string) bool {
		return strings.HasPrefix(dir+"/", root+"/cgroups/") || dir == root+"/plain/otel-qrun-2"
	}
	for path, want := range map[string]bool{
		cg:                                 true,
		cg + "/":                           true,
		root + "/otel-qrun-link":           false, // a link
		root + "/otel-qrun-link/w1/..":     false,
		cg + "/w1/../../otel-qrun-1":       false,
		root + "/cgroups/x/../otel-qrun-1": false,
		root + "/plain/otel-qrun-2":        false, // its parent is no cgroup
		root + "/cgroups":                  false, // not named otel-qrun-…
		"otel-qrun-1":                      false,
	} {
		if got := runCgroup(path); got != want {
			t.Errorf("runCgroup(%q) = %v, want %v", path, got, want)
		}
	}
}

// setName names the thread that calls it, and so the keeper (whose main
// thread calls it), Name: what ps -e, top and pgrep show.
func TestSetName(t *testing.T) {
	got := make(chan string)
	go func() {
		runtime.LockOSThread() // never unlocked: the renamed thread ends with the goroutine
		setName()
		b, _ := os.ReadFile("/proc/self/task/" + strconv.Itoa(syscall.Gettid()) + "/comm")
		got <- string(b)
	}()
	if name := <-got; name != Name+"\n" {
		t.Errorf("comm %q, want %q", name, Name)
	}
	if len(Name) > 15 {
		t.Errorf("Name %q is longer than the kernel's 15 bytes", Name)
	}
}
