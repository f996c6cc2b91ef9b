package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/keeper"
)

// procStat holds the fields of /proc/[pid]/stat the launcher uses (proc(5)).
type procStat struct {
	pid      int
	state    byte   // R, S, D, T (stopped), t (traced), Z (zombie), X (dead), ...
	ppid     int    // parent
	pgrp     int    // process group
	start    uint64 // start time in clock ticks after boot: tells a reused pid apart
	rssPages int64  // resident pages
}

// live reports whether the process still runs: zombies and dead entries do
// not count (nothing can be asked of them; their parent reaps them).
func (p procStat) live() bool { return p.state != 'Z' && p.state != 'X' }

// stopped reports whether the process is stopped by a signal (SIGSTOP,
// SIGTSTP, SIGTTIN, SIGTTOU) or by a tracer.
func (p procStat) stopped() bool { return p.state == 'T' || p.state == 't' }

// parseStat parses the contents of /proc/[pid]/stat. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after its last
// ')'.
func parseStat(b []byte) (procStat, error) {
	var p procStat
	open := bytes.IndexByte(b, '(')
	i := bytes.LastIndexByte(b, ')')
	if open < 1 || i < open {
		return p, errors.New("malformed stat")
	}
	pid, err := atoi(bytes.TrimSpace(b[:open]))
	if err != nil {
		return p, err
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field N is fields[N-3].
	if len(fields) < 22 || len(fields[0]) != 1 {
		return p, errors.New("short stat")
	}
	p.pid, p.state = pid, fields[0][0]
	if p.ppid, err = atoi(fields[1]); err != nil {
		return p, err
	}
	if p.pgrp, err = atoi(fields[2]); err != nil {
		return p, err
	}
	start, err := atoi(fields[19])
	if err != nil {
		return p, err
	}
	rss, err := atoi(fields[21])
	if err != nil {
		return p, err
	}
	p.start, p.rssPages = uint64(start), int64(rss)
	return p, nil
}

// readStat reads /proc/[pid]/stat; buf is scratch space.
func readStat(pid int, buf []byte) (procStat, error) {
	n, err := readSmall(fmt.Sprintf("/proc/%d/stat", pid), buf)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(buf[:n])
}

// scanProc calls fn with the stat of every process in /proc. Processes that
// end during the scan are skipped.
func scanProc(fn func(procStat)) error {
	dir, err := os.Open("/proc")
	if err != nil {
		return err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	var buf [2048]byte
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		n, err := readSmall("/proc/"+name+"/stat", buf[:])
		if err != nil {
			continue // the process is gone
		}
		if p, err := parseStat(buf[:n]); err == nil {
			fn(p)
		}
	}
	return nil
}

// environHas reports whether the initial environment of process pid
// (/proc/[pid]/environ, readable for processes of the same user) carries
// marker as its service.instance.id (keeper.CarriesMarker).
func environHas(pid int, marker []byte) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return err == nil && keeper.CarriesMarker(b, marker)
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
