package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// KeeperEnv is set to "1" in the environment of the keeper: the launcher's
// executable run again as a small process that outlives a launcher killed
// with SIGKILL and then kills what the launcher's workers left. A program
// that passes [WithKeeper] calls [KeeperMain] first thing in main.
const KeeperEnv = "OTEL_QRUN_KEEPER"

// keeper is the launcher's end of the keeper: a pipe whose end (EOF without
// "done") tells the keeper that the launcher is gone.
type keeper struct {
	pid int
	mu  sync.Mutex
	w   *os.File
}

// startKeeper starts path as the keeper. base is the Run's cgroup ("" when
// trees are tracked through /proc). The keeper leads its own process group
// and has no parent-death signal: it must outlive the launcher.
func startKeeper(path string, environ []string, base string) (*keeper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return nil, err
	}
	defer devNull.Close()
	env := []string{KeeperEnv + "=1"}
	if v := getenv(environ, "GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	pid, err := syscall.ForkExec(path, []string{"otel-qrun-keeper"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{r.Fd(), devNull.Fd(), devNull.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start keeper %s: %w", path, err)
	}
	k := &keeper{pid: pid, w: w}
	if base != "" {
		k.send("cgroup " + base)
	}
	return k, nil
}

// send writes one line to the keeper; a keeper that is gone is ignored.
func (k *keeper) send(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.w != nil {
		_, _ = k.w.WriteString(line + "\n")
	}
}

// close tells the keeper that the launcher ended cleanly and waits for it.
func (k *keeper) close() {
	k.send("done")
	k.mu.Lock()
	k.w.Close()
	k.w = nil
	k.mu.Unlock()
	var ws syscall.WaitStatus
	for {
		// ECHILD: a wait4(-1) loop of subreaper mode reaped it already.
		if _, err := syscall.Wait4(k.pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// KeeperMain runs the keeper when the process was started as one (KeeperEnv
// set) and reports whether it did, with the exit status. Otherwise it
// returns at once.
func KeeperMain() (status int, ok bool) {
	if os.Getenv(KeeperEnv) != "1" {
		return 0, false
	}
	// Only the end of the launcher ends the keeper: a ^C on the terminal,
	// a hangup or a stop signal meant for the launcher are not for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)
	return runKeeper(os.Stdin), true
}

func runKeeper(in *os.File) int {
	var base string
	marked := make(map[string]bool)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "done":
			return 0
		case "cgroup":
			base = arg
		case "mark":
			marked[arg] = true
		case "unmark":
			delete(marked, arg)
		}
	}
	// The launcher is gone without saying done: it was killed.
	if base != "" {
		killCgroup(base)
	}
	if len(marked) > 0 {
		var markers [][]byte
		for m := range marked {
			markers = append(markers, []byte(m))
		}
		killMarked(markers)
	}
	return 0
}

// killCgroup kills every process in the cgroup tree under base and removes
// the cgroups.
func killCgroup(base string) {
	if err := os.WriteFile(filepath.Join(base, "cgroup.kill"), []byte("1"), 0); err != nil {
		// No cgroup.kill (Linux < 5.14): kill each member, bottom up.
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "cgroup.procs" {
				for _, pid := range readPids(p) {
					_ = unix.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(base, e.Name()))
		}
	}
	removeCgroup(base)
}

// killMarked kills, until none is left, every process whose environment
// carries one of the workers' markers.
func killMarked(markers [][]byte) {
	self := os.Getpid()
	for pass := 0; pass < 200; pass++ {
		found := false
		_ = scanProc(func(p procStat) {
			if p.pid == self || !p.live() {
				return
			}
			for _, m := range markers {
				if environHas(p.pid, m) {
					found = true
					_ = unix.Kill(p.pid, syscall.SIGKILL)
					return
				}
			}
		})
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
