package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// platformFeatures lists what this platform supports; empty on Linux.
const platformFeatures = ""

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// setSubreaper makes the process a child subreaper: orphaned descendants are
// re-parented to it instead of to PID 1.
func setSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// availableCPUs lists the CPUs this process may run on.
func availableCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// pinThread sets the calling thread's CPU affinity to cpus and returns a
// function that restores the previous mask. The caller is locked to its
// thread.
func pinThread(cpus []int) (func(), error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_setaffinity %v: %w", cpus, err)
	}
	return func() { _ = unix.SchedSetaffinity(0, &old) }, nil
}

// groupsRSS returns the resident memory, in KiB, of each process group in
// pgids: the sum over every process whose process group it is, read from
// /proc/[pid]/stat in one pass over /proc.
func groupsRSS(pgids []int) (map[int]int64, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	total := make(map[int]int64, len(pgids))
	for _, pg := range pgids {
		total[pg] = 0
	}
	page := int64(os.Getpagesize()) / 1024
	var buf [2048]byte
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		n, err := readSmall("/proc/"+name+"/stat", buf[:])
		if err != nil {
			continue // the process is gone
		}
		pg, rss, err := parseStat(buf[:n])
		if err != nil {
			continue
		}
		if _, ok := total[pg]; ok {
			total[pg] += rss * page
		}
	}
	return total, nil
}

// readSmall reads a small file into buf without allocating.
func readSmall(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.Read(fd, buf)
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int, error) {
	n := 0
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", b)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// parseStat extracts the process group (field 5) and resident pages (field
// 24) from the contents of /proc/[pid]/stat. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
func parseStat(b []byte) (pgrp int, rssPages int64, err error) {
	// Only the fields up to rss are needed; bytes.Fields allocates a slice
	// header per field, which is acceptable at one call per process a cycle.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field N is fields[N-3].
	if len(fields) < 22 {
		return 0, 0, errors.New("short stat")
	}
	pg, err := atoi(fields[2])
	if err != nil {
		return 0, 0, err
	}
	rss, err := atoi(fields[21])
	if err != nil {
		return 0, 0, err
	}
	return pg, int64(rss), nil
}

// foregroundTTY reports whether f is a terminal whose foreground process
// group is the launcher's own: only then is the terminal handed on to a
// worker, so that a launcher in the background never takes it from the shell.
func foregroundTTY(f *os.File) bool {
	pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}
