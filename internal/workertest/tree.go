package workertest

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// registerTreeHelpers registers the helpers of process-tree tests: workers
// whose descendants leave the worker's process group or never get reaped.
func registerTreeHelpers() {
	// tree: fork three sleepers: one in the worker's group, one that
	// calls setsid, one double-forked (orphaned at once; its parent
	// reports it as an "orphan" record). Report the first two in the
	// ready record's args, then run until TERM and exit Exit. Child names
	// the children's helper (default sleeper).
	Register("tree", func(p Params) int {
		if p.Child == "" {
			p.Child = "sleeper"
		}
		c := notifyTERM()
		a := startHelper(p.Child, Params{}, nil)
		b := startHelper(p.Child, Params{}, &syscall.SysProcAttr{Setsid: true})
		var ws syscall.WaitStatus
		mid := startHelper("double-fork", Params{Child: p.Child}, nil)
		syscall.Wait4(mid, &ws, 0, nil)
		emit(Record{Event: "ready", Args: []string{strconv.Itoa(a), strconv.Itoa(b)}})
		<-c
		return p.Exit
	})
	// double-fork: start Child in a new process group, report it, and
	// exit, orphaning it.
	Register("double-fork", func(p Params) int {
		emit(Record{Event: "orphan", Child: startHelper(p.Child, Params{}, &syscall.SysProcAttr{Setpgid: true})})
		return 0
	})
	// sleeper: run until killed; TERM ends it (Go's default action).
	Register("sleeper", func(Params) int { select {} })
	// stubborn: ignore TERM and run until killed.
	Register("stubborn", func(Params) int {
		signal.Ignore(syscall.SIGTERM)
		Started()
		select {}
	})
	// noreap: fork three children that exit at once and never reap them;
	// report once they are zombies, then exit 0 on TERM.
	Register("noreap", func(Params) int {
		c := notifyTERM()
		var pids []int
		for i := 0; i < 3; i++ {
			pids = append(pids, startHelper("short", Params{}, nil))
		}
		for _, pid := range pids {
			for !isZombie(pid) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		emit(Record{Event: "ready"})
		<-c
		return 0
	})
}

func isZombie(pid int) bool {
	st, err := ReadStat(pid)
	return err != nil || st.State == 'Z'
}

// Tagged returns the pids of the live processes (zombies aside) whose
// environment holds tag, which a test puts in its workers' environment:
// whatever a worker's tree started carries it too. Linux only; reading
// other users' environments needs root.
func Tagged(tag string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains(string(b), tag) || isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
