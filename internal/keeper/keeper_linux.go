package keeper

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Main runs the keeper when the process was started as one ([Env] is "1"),
// reading the protocol from stdin, and reports whether it did, with the
// exit status. Otherwise it returns at once.
func Main() (status int, ok bool) {
	if os.Getenv(Env) != "1" {
		return 0, false
	}
	setName()
	// Only the end of the launcher ends the keeper: a ^C on the terminal,
	// a hangup or a stop signal meant for the launcher are not for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)
	return Run(os.Stdin), true
}

// Name is the keeper's process name (/proc/PID/comm, what ps -e, top and
// pgrep show; at most 15 bytes). Its command line is otel-qrun-keeper. Run
// from /proc/self/exe, it would otherwise be named "exe".
const Name = "otel-qrun-keep"

// setName names the keeper's main thread, and so its process, Name
// (prctl(2) PR_SET_NAME).
func setName() {
	name := []byte(Name + "\x00")
	_, _, _ = syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0, 0)
}

// Run reads the protocol from in until "done" (exit status 0, nothing
// killed) or its end (the launcher is gone: the cgroup tree and the marked
// processes are killed, then 0).
func Run(in io.Reader) int {
	watch := &forkWatch{parent: os.Getppid()}
	orders, done := read(in, watch)
	watch.forked()
	if done {
		return 0
	}
	// The launcher is gone without saying done: it was killed. The keeper
	// started at a low priority, out of the launcher's way; the kill is
	// urgent.
	raisePriority()
	if orders.base != "" && runCgroup(orders.base) {
		killCgroup(orders.base)
	}
	if len(orders.markers) > 0 {
		killMarked(orders.markers)
	}
	return 0
}

// raisePriority sets the keeper's nice value back to 0 from the one it
// started with (the launcher's KeeperNice), where it may: as root, with
// CAP_SYS_NICE, or with an RLIMIT_NICE of 20 (setpriority(2)). Otherwise
// it kills at the nice value it has. A nice value is a thread's, and the
// killing goroutine may run on any of the keeper's threads: the keeper
// leads its own process group, and PRIO_PGRP reaches every thread of it;
// then each thread listed in /proc/self/task is set too, for one whose
// creation was under way (a new thread takes its creator's value when it
// is cloned). Tests replace it.
var raisePriority = func() {
	_ = syscall.Setpriority(syscall.PRIO_PGRP, 0, 0)
	tids, _ := readDirNames("/proc/self/task")
	for _, tid := range tids {
		if n, err := strconv.Atoi(tid); err == nil {
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, n, 0)
		}
	}
}

// orders is what the launcher asked the keeper to kill if it dies.
type orders struct {
	base    string   // the Run's cgroup
	markers [][]byte // markers of worker trees followed through /proc
}

// read reads the protocol until "done" (done is true) or the end of in.
// (It uses strings, not path/filepath: a package initialized late would
// make the keeper wait for the heavy ones, see Main.)
// Lines it does not know are ignored, and so are arguments that are not
// what the launcher sends: a mark must be a service.instance.id the
// launcher made (a UUID; an empty or short marker would match every
// process), a cgroup an absolute path. A line longer than maxLine is
// skipped whole, and reading goes on: it is not taken as the launcher's end.
func read(in io.Reader, watch *forkWatch) (o orders, done bool) {
	marked := make(map[string]bool)
	br := bufio.NewReaderSize(in, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				break
			}
			continue
		}
		cmd, arg, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), " ")
		arg = strings.TrimSpace(arg)
		if cmd == LineDone {
			return orders{}, true
		}
		switch {
		case cmd == LineCgroup && strings.HasPrefix(arg, "/"):
			o.base = arg
		case cmd == LineMark && isMarker(arg):
			marked[arg] = true
		case cmd == LineUnmark:
			delete(marked, arg)
		case cmd == LineFork:
			watch.fork()
		case cmd == LineForked:
			watch.forked()
		}
		if err != nil {
			break
		}
	}
	for m := range marked {
		o.markers = append(o.markers, []byte(m))
	}
	return o, false
}

// maxLine is the longest protocol line read; the launcher's are under 200
// bytes.
const maxLine = 4096

// isMarker reports whether s is a marker the launcher makes: a UUID in its
// text form (RFC 9562 section 4), 8-4-4-4-12 hexadecimal digits.
func isMarker(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// cgroupFS reports whether dir is on a cgroup v2 file system (statfs(2),
// CGROUP2_SUPER_MAGIC). Tests replace it.
var cgroupFS = func(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == 0x63677270
}

// runCgroup reports whether base can be a Run's cgroup: a directory named
// otel-qrun-… on a cgroup v2 file system whose parent is a cgroup too,
// reached through no symbolic link and no "." or ".." (a link or a bind
// mount named otel-qrun-… elsewhere is not the Run's cgroup). The keeper
// writes and removes nothing anywhere else.
func runCgroup(base string) bool {
	base = strings.TrimRight(base, "/")
	i := strings.LastIndexByte(base, '/')
	if i <= 0 || !strings.HasPrefix(base[i+1:], "otel-qrun-") || strings.Contains(base+"/", "/./") || strings.Contains(base+"/", "/../") {
		return false
	}
	for j := 1; j <= len(base); j++ {
		if j == len(base) || base[j] == '/' {
			st, err := os.Lstat(base[:j])
			if err != nil || st.Mode()&os.ModeSymlink != 0 {
				return false
			}
		}
	}
	return cgroupFS(base) && cgroupFS(base[:i])
}

// killCgroup kills every process in the cgroup tree under base and removes
// the Run's cgroup and the workers' cgroups just below it.
func killCgroup(base string) {
	if err := os.WriteFile(base+"/cgroup.kill", []byte("1"), 0); err != nil {
		// No cgroup.kill (Linux < 5.14): kill each member of every cgroup
		// of the tree.
		killMembers(base)
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.IsDir() {
			RemoveCgroup(base + "/" + e.Name())
		}
	}
	RemoveCgroup(base)
}

// killMembers kills the processes of cgroup dir and of every cgroup below.
func killMembers(dir string) {
	for _, pid := range ReadPids(dir + "/cgroup.procs") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			killMembers(dir + "/" + e.Name())
		}
	}
}

// killMarked kills, until none is left, every process whose environment
// carries one of the workers' markers (CarriesMarker).
func killMarked(markers [][]byte) {
	self := os.Getpid()
	for pass := 0; pass < 200; pass++ {
		found := false
		for _, pid := range livePids() {
			if pid == self {
				continue
			}
			env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				continue
			}
			for _, m := range markers {
				if CarriesMarker(env, m) {
					found = true
					_ = syscall.Kill(pid, syscall.SIGKILL)
					break
				}
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// livePids lists the processes in /proc that are neither zombies nor dead
// (proc(5): the state follows the last ')' of /proc/[pid]/stat).
func livePids() []int {
	names, err := readDirNames("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if state, _, ok := procStat(pid); ok && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// ReadPids reads a cgroup.procs file: the pids it lists, nil when it
// cannot be read.
func ReadPids(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// RemoveCgroup removes an empty cgroup, waiting up to a second for the
// processes of a killed one to be gone (rmdir fails with EBUSY until then).
func RemoveCgroup(dir string) {
	for i := 0; i < 100; i++ {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
