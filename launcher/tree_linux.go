package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/keeper"
)

// Supervision mechanisms (see [ProbeSupervision]).
const (
	// MechanismCgroup: one cgroup v2 per worker, created by the launcher;
	// membership is the kernel's, cgroup.kill ends a tree.
	MechanismCgroup = "cgroup"
	// MechanismProc: the worker's descendants found through /proc: the
	// parent links, members seen before, and the worker's
	// service.instance.id in a process's environment.
	MechanismProc = "proc"
)

// cgroupDir returns the directory of this process's own cgroup in the
// cgroup v2 hierarchy, from /proc/self/cgroup and /proc/self/mountinfo.
func cgroupDir() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var own string
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own, found = p, true
			break
		}
	}
	if !found {
		return "", errors.New("no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)")
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer mi.Close()
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		// 36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		root, mount := unescapeMount(f[3]), unescapeMount(f[4])
		rel, ok := strings.CutPrefix(own, root)
		if !ok || (rel != "" && root != "/" && !strings.HasPrefix(rel, "/")) {
			continue
		}
		return filepath.Join(mount, rel), nil
	}
	return "", errors.New("cgroup2 is not mounted")
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// supervision is how one Run tracks its worker trees: a cgroup directory
// holding one cgroup per worker, or /proc. It also owns the keeper.
//
// A worker's cgroup outlives the worker when the worker's tree ended empty
// (nothing left behind): it waits in idle for the next tree, so that a run
// of short processes (per-task mode) creates a cgroup per slot rather than
// one per process. A tree that left processes behind keeps its cgroup
// until they are gone, and the cgroup is then removed.
type supervision struct {
	mechanism string
	base      string // cgroup: this Run's cgroup, parent of the workers' cgroups
	reason    string // why the cgroup mechanism is not used
	seq       int    // the spawner's only
	keeper    *keeperProc
	keeperErr error // why the keeper did not start, for adopt to report
	log       logger
	// reapLater: close ends the keeper without reaping it, for
	// reapKeeper (Preparation.Close) to do.
	reapLater bool

	mu     sync.Mutex
	idle   []cgroup // empty cgroups of ended trees, most recent last
	closed bool     // close was called: a released cgroup is removed
}

// cgroup is one worker cgroup: its directory and an O_PATH descriptor of
// it, the one clone3 takes (CLONE_INTO_CGROUP).
type cgroup struct {
	dir string
	fd  int
}

// logger is the part of *slog.Logger the trees use.
type logger interface {
	Warn(msg string, args ...any)
	Debug(msg string, args ...any)
}

// discardLogger is a supervision's logger until a Run adopts it.
type discardLogger struct{}

func (discardLogger) Warn(string, ...any)  {}
func (discardLogger) Debug(string, ...any) {}

// newSupervision creates this Run's cgroup when it can. keeperPath is the
// executable run as the keeper ("" for none). It logs nothing: the Run
// that uses it reports what went wrong through its own logger (adopt),
// which a Preparation begun before the caller's configuration (cmd: its
// log level) could not know.
func newSupervision(keeperPath string, keeperEnv []string) *supervision {
	s := &supervision{mechanism: MechanismProc, log: discardLogger{}}
	// The keeper first: its fork waits for its exec, and the cgroups
	// made meanwhile would only delay it. It learns the Run's cgroup
	// before the mkdir (makeRunCgroup).
	if keeperPath != "" {
		s.keeper, s.keeperErr = startKeeper(keeperPath, keeperEnv)
	}
	dir, err := cgroupDir()
	if err == nil {
		var base string
		if base, err = s.makeRunCgroup(dir); err == nil {
			s.mechanism, s.base = MechanismCgroup, base
			// The first worker's cgroup is made now, with the Run's
			// (ahead of Run when prepared, see Preparation).
			if cg, err := s.takeCgroup(); err == nil {
				s.idle = append(s.idle, cg)
			}
		}
	}
	if err != nil {
		s.reason = err.Error()
	}
	return s
}

// adopt makes log the supervision's logger, for the Run that uses it, and
// reports through it a keeper that could not start.
func (s *supervision) adopt(log logger) {
	s.log = log
	if s.keeperErr != nil {
		log.Warn("cannot start the keeper: the workers' descendants outlive a launcher killed with SIGKILL", "error", s.keeperErr)
		s.keeperErr = nil
	}
}

// makeRunCgroup creates this Run's cgroup under dir, a name of its own for
// every Run (several may run in one process): otel-qrun-PID-RANDOM. The
// keeper is told the name before the mkdir, so that a launcher killed at
// any moment leaves no cgroup behind: the keeper removes it if it exists,
// and a name that was never made is nothing to it (runCgroup). Told after,
// a launcher killed between the two left an empty cgroup.
func (s *supervision) makeRunCgroup(dir string) (string, error) {
	for range 16 {
		base := filepath.Join(dir, fmt.Sprintf("otel-qrun-%d-%d", os.Getpid(), rand.Uint32()))
		if s.keeper != nil {
			s.keeper.send(keeper.LineCgroup + " " + base)
		}
		err := os.Mkdir(base, 0o700)
		if !errors.Is(err, fs.ErrExist) {
			return base, err
		}
	}
	return "", errors.New("create cgroup: no free name")
}

// newTree prepares the tree of a worker about to be forked: its cgroup
// (when cgroup is true and the supervision has cgroups), or the marker (the
// service.instance.id in env) that its members carry.
func (s *supervision) newTree(env []string, cgroup bool) (*tree, error) {
	t := &tree{sup: s, ctty: -1, cgfd: -1}
	if s.mechanism != MechanismCgroup || !cgroup {
		t.known = make(map[int]uint64)
		if id := instanceID(env); id != "" {
			t.marker = []byte(id)
			if s.keeper != nil {
				s.keeper.send(keeper.LineMark + " " + id)
			}
		}
		return t, nil
	}
	cg, err := s.takeCgroup()
	if err != nil {
		return nil, err
	}
	t.dir, t.cgfd, t.inCgroup = cg.dir, cg.fd, true
	return t, nil
}

// takeCgroup returns an idle cgroup, or a new one. The spawner only.
func (s *supervision) takeCgroup() (cgroup, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		cg := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return cg, nil
	}
	s.mu.Unlock()
	s.seq++
	dir := filepath.Join(s.base, "w"+strconv.Itoa(s.seq))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return cgroup{}, fmt.Errorf("create cgroup: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return cgroup{}, fmt.Errorf("open cgroup: %w", err)
	}
	return cgroup{dir: dir, fd: fd}, nil
}

// putCgroup keeps cg, which holds no process, for the next tree. A
// supervision closed meanwhile removes it at once.
func (s *supervision) putCgroup(cg cgroup) {
	s.mu.Lock()
	if !s.closed {
		s.idle = append(s.idle, cg)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	dropCgroup(cg)
}

// dropCgroup closes the descriptor of cg and removes it.
func dropCgroup(cg cgroup) {
	unix.Close(cg.fd)
	keeper.RemoveCgroup(cg.dir)
}

// newInertTree is inertTree on Linux.
func newInertTree(pid int) *tree {
	return &tree{sup: &supervision{}, pid: pid, ctty: -1, cgfd: -1, inert: true, known: make(map[int]uint64)}
}

// useProc switches to following trees through /proc after the kernel
// refused to start a worker in a cgroup (err); it warns once.
func (s *supervision) useProc(err error) {
	if s.mechanism != MechanismCgroup {
		return
	}
	s.log.Warn("cannot start workers in cgroups; following their process trees through /proc", "error", err)
	s.mechanism, s.reason = MechanismProc, err.Error()
}

// attr puts the process forked with sys straight into the tree's cgroup
// (clone3 with CLONE_INTO_CGROUP), so that not even its first child can
// escape.
func (t *tree) attr(sys *syscall.SysProcAttr) {
	if t.cgfd >= 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, t.cgfd
	}
}

// started records the forked worker; forked is false when the fork failed.
func (t *tree) started(pid int, forked bool) {
	if !forked {
		t.close()
		return
	}
	t.pid = pid
	if t.known != nil {
		var buf [2048]byte
		if p, err := readStat(pid, buf[:]); err == nil {
			t.known[pid], t.start = p.start, p.start
		}
	}
}

// close removes the Run's cgroup and the workers' (killing what is left in
// them) and ends the keeper. Trees released later remove their cgroups.
func (s *supervision) close() {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, cg := range idle {
		unix.Close(cg.fd) // the directories go with the others below
	}
	if s.base != "" {
		entries, _ := os.ReadDir(s.base)
		if len(entries) > 0 {
			_ = os.WriteFile(filepath.Join(s.base, "cgroup.kill"), []byte("1"), 0)
		}
		for _, e := range entries {
			if e.IsDir() {
				keeper.RemoveCgroup(filepath.Join(s.base, e.Name()))
			}
		}
		keeper.RemoveCgroup(s.base)
	}
	if s.keeper != nil {
		s.keeper.end()
		if !s.reapLater {
			s.keeper.reap()
		}
	}
}

// watchFork asks the keeper to continue a child of the launcher stopped
// before its exec while a fork is under way (keeper.LineFork), and returns
// the function that ends the watch, to call once the fork returned. A
// no-op without a keeper.
func (s *supervision) watchFork() func() {
	if s.keeper == nil {
		return func() {}
	}
	s.keeper.send(keeper.LineFork)
	return func() { s.keeper.send(keeper.LineForked) }
}

// reapKeeper reaps the keeper close ended, when it left it to this.
func (s *supervision) reapKeeper() {
	if s.keeper != nil {
		s.keeper.reap()
	}
}

// instanceID returns the service.instance.id the launcher put in env's
// OTEL_RESOURCE_ATTRIBUTES, or "".
func instanceID(env []string) string {
	attrs := getenv(env, envResourceAttrs)
	i := strings.LastIndex(attrs, AttrInstanceID+"=")
	if i < 0 {
		return ""
	}
	v := attrs[i+len(AttrInstanceID)+1:]
	if j := strings.IndexByte(v, ','); j >= 0 {
		v = v[:j]
	}
	return v
}

// tree is one worker's process tree: the worker and every descendant,
// whatever it does (setsid, double fork, a new process group). Its methods
// are safe for concurrent use: the loop and the drain of an exited worker
// may use the same tree.
type tree struct {
	sup  *supervision
	pid  int // the worker
	ctty int // the terminal whose foreground this worker's group got, or -1
	// inCgroup is true when the worker is forked into its cgroup.
	inCgroup bool
	// inert: the tree follows no process (newInertTree).
	inert bool

	mu     sync.Mutex
	dir    string         // cgroup mechanism: the worker's cgroup
	cgfd   int            // the cgroup directory (O_PATH), until the tree is closed
	marker []byte         // proc mechanism: the worker's service.instance.id
	known  map[int]uint64 // proc mechanism: members seen, pid → start time
	start  uint64         // proc mechanism: the worker's start time
	closed bool
	// cgKilled: cgroup.kill was written to its cgroup, which then kills
	// every process cloned into it later (Linux 6.18, clone3
	// CLONE_INTO_CGROUP): that cgroup is removed, never kept for reuse.
	cgKilled bool

	// stopBy is when a stop under way kills what is left (zero: no stop).
	stopBy time.Time
}

// members returns the pids of the tree's live members (zombies excluded).
func (t *tree) members() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.membersLocked()
}

// membersLocked is members with t.mu held. A closed tree's cgroup may
// belong to another tree already: the closed tree has no members.
func (t *tree) membersLocked() []int {
	if t.inert {
		return nil
	}
	if t.dir != "" {
		if t.closed {
			return nil
		}
		return readCgroupPids(t.cgfd)
	}
	return t.procMembers(nil)
}

// readCgroupPids returns the pids in cgroup.procs of the cgroup whose
// directory dirfd is open: plain system calls, no poller (cgroup files
// can be polled, so os.ReadFile would register and unregister each).
func readCgroupPids(dirfd int) []int {
	fd, err := unix.Openat(dirfd, "cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var buf [512]byte
	var all []byte
	for {
		n, err := unix.Read(fd, buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 || err != nil {
			break
		}
		all = append(all, buf[:n]...)
	}
	return parsePids(all)
}

// parsePids parses pids separated by white space; other words are skipped.
func parsePids(b []byte) []int {
	var pids []int
	for _, f := range bytes.Fields(b) {
		if pid, err := atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procMembers finds the members through /proc: the worker, members seen
// before (same start time), processes whose environment carries the
// marker, and every descendant of those. stats, when not nil, receives the
// stat of each member. t.mu is held.
func (t *tree) procMembers(stats map[int]procStat) []int {
	all := make(map[int]procStat)
	children := make(map[int][]int)
	_ = scanProc(func(p procStat) {
		all[p.pid] = p
		children[p.ppid] = append(children[p.ppid], p.pid)
	})
	self := os.Getpid()
	in := make(map[int]bool)
	var queue []int
	add := func(pid int) {
		p, ok := all[pid]
		if !ok || in[pid] || pid == self || pid == 1 || !p.live() {
			return
		}
		in[pid] = true
		queue = append(queue, pid)
	}
	for pid, start := range t.known {
		if p, ok := all[pid]; ok && p.start == start {
			add(pid)
		} else {
			delete(t.known, pid)
		}
	}
	if len(t.marker) > 0 {
		// Only a process started after the worker can descend from it,
		// which spares reading the environment of nearly every process.
		for pid, p := range all {
			if !in[pid] && p.live() && p.start >= t.start && pid != self && !t.sup.keeperPid(pid) && environHas(pid, t.marker) {
				add(pid)
			}
		}
	}
	var out []int
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, pid)
		p := all[pid]
		t.known[pid] = p.start
		if stats != nil {
			stats[pid] = p
		}
		for _, c := range children[pid] {
			add(c)
		}
	}
	return out
}

func (s *supervision) keeperPid(pid int) bool { return s.keeper != nil && s.keeper.pid == pid }

// keeperPID is the keeper's pid, or 0 without a keeper.
func (s *supervision) keeperPID() int {
	if s.keeper == nil {
		return 0
	}
	return s.keeper.pid
}

// alive reports whether any member still runs.
func (t *tree) alive() bool { return len(t.members()) > 0 }

// forward sends sig to every member. Members that are gone are skipped.
func (t *tree) forward(sig syscall.Signal) error {
	var errs []error
	for _, pid := range t.members() {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// signal sends the stop signal sig to every member and SIGCONT to the ones
// that are stopped (by SIGTSTP, SIGTTIN, SIGTTOU or SIGSTOP), so that they
// act on it; members forked meanwhile get it too.
func (t *tree) signal(sig syscall.Signal) error {
	sent := make(map[int]bool)
	var errs []error
	var buf [2048]byte
	for pass := 0; pass < 3; pass++ {
		fresh := false
		for _, pid := range t.members() {
			if sent[pid] {
				continue
			}
			sent[pid], fresh = true, true
			if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
				continue
			}
			if p, err := readStat(pid, buf[:]); err == nil && p.stopped() {
				_ = unix.Kill(pid, syscall.SIGCONT)
			}
		}
		if !fresh {
			break
		}
	}
	return errors.Join(errs...)
}

// kill kills every member with SIGKILL: cgroup.kill where the kernel has it
// (Linux 5.14), else SIGKILL to each member until none is left.
func (t *tree) kill() error {
	t.mu.Lock()
	if t.dir != "" {
		// Under t.mu: once the tree is closed, its cgroup may be another
		// tree's.
		if t.closed {
			t.mu.Unlock()
			return nil
		}
		t.cgKilled = true
		err := os.WriteFile(filepath.Join(t.dir, "cgroup.kill"), []byte("1"), 0)
		if err == nil {
			t.mu.Unlock()
			return nil
		}
	}
	t.mu.Unlock()
	var errs []error
	for pass := 0; pass < 20; pass++ {
		pids := t.members()
		if len(pids) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, pid := range pids {
			if err := unix.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
			}
		}
		if len(errs) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// rss returns the resident memory of the members, in KiB: the sum of their
// resident set sizes (the same processes as every other figure of the tree).
func (t *tree) rss() (int64, error) {
	page := int64(os.Getpagesize()) / 1024
	var total int64
	t.mu.Lock()
	if t.inert {
		t.mu.Unlock()
		return 0, nil
	}
	if t.dir == "" {
		stats := make(map[int]procStat)
		t.procMembers(stats)
		t.mu.Unlock()
		for _, p := range stats {
			total += p.rssPages * page
		}
		return total, nil
	}
	pids := t.membersLocked()
	t.mu.Unlock()
	var buf [2048]byte
	for _, pid := range pids {
		if p, err := readStat(pid, buf[:]); err == nil {
			total += p.rssPages * page
		}
	}
	return total, nil
}

// close releases the tree once its members are gone: the cgroup is removed.
func (t *tree) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeLocked(false)
}

// release closes the tree when no member is alive, and reports whether it
// did. Its cgroup then holds no process and is kept for the next tree
// (see supervision).
func (t *tree) release() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return true
	}
	if len(t.membersLocked()) > 0 {
		return false
	}
	t.closeLocked(true)
	return true
}

// closeLocked closes the tree; reuse keeps its empty cgroup for the next
// tree rather than removing it, unless it was killed through (cgKilled).
// t.mu is held.
func (t *tree) closeLocked(reuse bool) {
	if t.closed {
		return
	}
	t.closed = true
	if t.dir != "" {
		cg := cgroup{dir: t.dir, fd: t.cgfd}
		t.cgfd = -1
		if reuse && !t.cgKilled {
			t.sup.putCgroup(cg)
		} else {
			dropCgroup(cg)
		}
	}
	if len(t.marker) > 0 && t.sup.keeper != nil {
		t.sup.keeper.send(keeper.LineUnmark + " " + string(t.marker))
	}
}

// exited gives the terminal back to the launcher's group when the worker
// that held its foreground has exited, as tini does: a ^C then reaches the
// launcher, and the next worker on the terminal takes it from there.
func (t *tree) exited() {
	if t.ctty < 0 {
		return
	}
	if fg, err := unix.IoctlGetInt(t.ctty, unix.TIOCGPGRP); err != nil || fg != t.pid {
		return
	}
	if err := setForeground(t.ctty, unix.Getpgrp()); err != nil {
		t.sup.log.Debug("cannot take the terminal back", "error", err)
	}
}

// setForeground makes pgrp the foreground process group of the terminal
// fd (tcsetpgrp(3)). The launcher may be a background group then (its
// worker holds the terminal), so SIGTTOU is blocked on the calling thread
// for the call.
func setForeground(fd, pgrp int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var block, old unix.Sigset_t
	block.Val[(syscall.SIGTTOU-1)/64] |= 1 << ((uint(syscall.SIGTTOU) - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &block, &old); err != nil {
		return err
	}
	err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// stoppedOnTerminal reports whether the worker leading t, which holds the
// terminal, is stopped (by ^Z's SIGTSTP, say), and by which signal. It
// takes the stop's wait status (waitid(2) with WSTOPPED alone, which never
// reaps an exit: the reaper still gets that).
func (t *tree) stoppedOnTerminal() (bool, syscall.Signal) {
	if t.ctty < 0 || t.pid <= 0 {
		return false, 0
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WSTOPPED|unix.WNOHANG, nil); err != nil {
		return false, 0
	}
	c := (*sigchldInfo)(unsafe.Pointer(&info))
	if c.Signo != int32(syscall.SIGCHLD) || c.Code != cldStopped {
		return false, 0
	}
	return true, syscall.Signal(c.Status)
}

// sigchldInfo is the start of a siginfo_t of SIGCHLD (sigaction(2)):
// si_signo, si_errno, si_code, then the union, aligned as a pointer is,
// whose first members are si_pid, si_uid and si_status.
type sigchldInfo struct {
	Signo, Errno, Code int32
	_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
	Pid                int32
	UID                uint32
	Status             int32
}

// cldStopped is CLD_STOPPED, the si_code of a child stopped by a signal.
const cldStopped = 5

// suspendJob does what a job-control shell expects of a job whose
// foreground process was stopped from the terminal (sig: SIGTSTP, or
// SIGTTIN/SIGTTOU for a worker that used the terminal from the
// background): the launcher takes the terminal back and stops its own
// process group, so the shell sees the whole job stopped and gets its
// prompt back. When the shell continues the job (SIGCONT: fg, or bg), the
// worker's group is continued too, and gets the terminal back when the
// launcher holds it (fg). A worker stopped by SIGTTIN or SIGTTOU while the
// launcher holds the terminal (fg came just after bg) only needs the
// terminal: it gets it and goes on.
//
// Only a job-control shell continues a stopped job. When no ancestor in the
// launcher's group has a parent of another group of the same session (its
// group is orphaned, POSIX 2017 XBD 3.250: `ssh -t host otel-qrun …`,
// `docker exec -it`, `script -c`), the terminal's stop signals are not
// delivered to the group, and nothing would continue the launcher: the
// worker is then continued at once, as if the ^Z had reached it the same way.
func (t *tree) suspendJob(sig syscall.Signal) {
	own := unix.Getpgrp()
	fg, fgErr := unix.IoctlGetInt(t.ctty, unix.TIOCGPGRP)
	switch {
	case !jobControlled():
		_ = t.forward(syscall.SIGCONT)
		return
	case (sig == syscall.SIGTTIN || sig == syscall.SIGTTOU) && fgErr == nil && fg == own:
		t.continueOnTerminal(own)
		return
	}
	if fgErr == nil && fg == t.pid {
		if err := setForeground(t.ctty, own); err != nil {
			t.sup.log.Debug("cannot take the terminal back", "error", err)
		}
	}
	stopJob(sig)
	t.continueOnTerminal(own)
}

// continueOnTerminal continues the worker's tree, handing it the terminal
// first when the launcher's group own holds it.
func (t *tree) continueOnTerminal(own int) {
	if fg, err := unix.IoctlGetInt(t.ctty, unix.TIOCGPGRP); err == nil && fg == own {
		if err := setForeground(t.ctty, t.pid); err != nil {
			t.sup.log.Debug("cannot hand the terminal to the worker", "error", err)
		}
	}
	_ = t.forward(syscall.SIGCONT)
}

// stopJob stops the launcher's process group (the job: the launcher, and
// the other commands of its pipeline) with sig, the signal that stopped
// the worker (SIGTSTP for ^Z, SIGTTIN or SIGTTOU), and returns once it is
// continued. The shell then reports the job as it would have without the
// launcher: stopped by SIGTSTP ($? 148 in bash), not by SIGSTOP (147). The
// launcher catches sig (os/signal), so sig's action is the default (stop)
// for the time of the stop (withDefaultAction). It stops through sig sent
// to this very thread, which takes it before it runs on:
// a signal to the process (kill(0)) is taken by any of its threads, and
// this one could hand the terminal back before the process stops, or,
// having stopped already, stop once more after the SIGCONT. The other
// members of the group get theirs one by one.
func stopJob(sig syscall.Signal) {
	own, self := unix.Getpgrp(), unix.Getpid()
	_ = scanProc(func(st procStat) {
		if st.pgrp == own && st.pid != self && st.live() {
			_ = unix.Kill(st.pid, sig)
		}
	})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	withDefaultAction(sig, func() { _ = unix.Tgkill(self, unix.Gettid(), sig) })
}

// withDefaultAction runs f with sig's action set to the default
// (rt_sigaction(2)), then puts the action it had back (the Go runtime's
// handler). A zeroed kernel sigaction is SIG_DFL with no flags and an
// empty mask, on every architecture; [4]uint64 holds the largest one.
func withDefaultAction(sig syscall.Signal, f func()) {
	var dfl, old [4]uint64
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if errno != 0 {
		f()
		return
	}
	defer syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	f()
}

// jobControlled reports whether the launcher's process group is not
// orphaned: the launcher, or an ancestor in its group, has a parent in
// another group of the same session (a job-control shell).
func jobControlled() bool {
	self := unix.Getpgrp()
	sid, err := unix.Getsid(0)
	if err != nil {
		return false
	}
	buf := make([]byte, 512)
	pid := unix.Getppid()
	for range 64 {
		if pid <= 1 {
			return false
		}
		st, err := readStat(pid, buf)
		if err != nil {
			return false
		}
		if st.pgrp != self {
			psid, err := unix.Getsid(pid)
			return err == nil && psid == sid
		}
		pid = st.ppid
	}
	return false
}

// treesRSS returns the resident memory, in KiB, of each worker's tree, by
// worker pid.
func treesRSS(ws []*worker) (map[int]int64, error) {
	out := make(map[int]int64, len(ws))
	for _, w := range ws {
		kib, err := w.tree.rss()
		if err != nil {
			return nil, err
		}
		out[w.pid] = kib
	}
	return out, nil
}

// SupervisionInfo says how this process would supervise worker trees.
type SupervisionInfo struct {
	// Mechanism is MechanismCgroup or MechanismProc.
	Mechanism string
	// Detail is where the cgroups go, or why cgroups are not used.
	Detail string
}

// info describes the mechanism of s as ProbeSupervision does.
func (s *supervision) info() SupervisionInfo {
	if s.mechanism == MechanismCgroup {
		return SupervisionInfo{Mechanism: MechanismCgroup, Detail: "one cgroup per worker under " + filepath.Dir(s.base)}
	}
	return SupervisionInfo{Mechanism: MechanismProc, Detail: "no writable cgroup v2: " + s.reason}
}

// ProbeSupervision finds the mechanism a launcher started now would use: a
// cgroup v2 per worker when a cgroup can be created under the process's
// own (root, or a delegated subtree), else /proc.
func ProbeSupervision() SupervisionInfo {
	dir, err := cgroupDir()
	if err == nil {
		probe := filepath.Join(dir, fmt.Sprintf("otel-qrun-probe-%d", os.Getpid()))
		if err = os.Mkdir(probe, 0o755); err == nil {
			_ = unix.Rmdir(probe)
			return SupervisionInfo{Mechanism: MechanismCgroup, Detail: "one cgroup per worker under " + dir}
		}
	}
	return SupervisionInfo{Mechanism: MechanismProc, Detail: "no writable cgroup v2: " + err.Error()}
}
