package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
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

// groupRSS returns the resident memory, in KiB, of every process whose
// process group is pgid, read from /proc/[pid]/stat.
func groupRSS(pgid int) (int64, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	page := int64(os.Getpagesize()) / 1024
	var total int64
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		buf, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // the process is gone
		}
		pg, rss, err := parseStat(buf)
		if err != nil || pg != pgid {
			continue
		}
		total += rss * page
	}
	return total, nil
}

// parseStat extracts the process group (field 5) and resident pages (field
// 24) from the contents of /proc/[pid]/stat. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
func parseStat(b []byte) (pgrp int, rssPages int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field N is fields[N-3].
	if len(fields) < 22 {
		return 0, 0, errors.New("short stat")
	}
	pg, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return 0, 0, err
	}
	rss, err := strconv.ParseInt(string(fields[21]), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return pg, rss, nil
}
