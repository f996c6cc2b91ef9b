package workertest

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// treeHelpers are the helpers of process-tree tests: workers whose
// descendants leave the worker's process group or never get reaped.
var treeHelpers = map[string]func() int{
	// tree: fork three sleepers: one in the worker's group, one that
	// calls setsid, one double-forked (orphaned at once; its parent
	// reports it as an "orphan" record). Report the first two in the
	// ready record's args, then run until TERM and exit HELPER_EXIT.
	// HELPER_CHILD names the children's helper (default sleeper).
	"tree": func() int {
		child := os.Getenv("HELPER_CHILD")
		if child == "" {
			child = "sleeper"
		}
		code, _ := strconv.Atoi(os.Getenv("HELPER_EXIT"))
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		a := startHelper(child, nil)
		b := startHelper(child, &syscall.SysProcAttr{Setsid: true})
		var ws syscall.WaitStatus
		mid := startHelperEnv("double-fork", "HELPER_CHILD="+child)
		syscall.Wait4(mid, &ws, 0, nil)
		emit(Record{Event: "ready", Args: []string{strconv.Itoa(a), strconv.Itoa(b)}})
		<-c
		return code
	},
	// double-fork: start HELPER_CHILD in a new process group, report it,
	// and exit, orphaning it.
	"double-fork": func() int {
		emit(Record{Event: "orphan", Child: startHelper(os.Getenv("HELPER_CHILD"), &syscall.SysProcAttr{Setpgid: true})})
		return 0
	},
	// sleeper: run until killed; TERM ends it (Go's default action).
	"sleeper": func() int { select {} },
	// stubborn: ignore TERM and run until killed.
	"stubborn": func() int {
		signal.Ignore(syscall.SIGTERM)
		select {}
	},
	// noreap: fork three children that exit at once and never reap them;
	// report once they are zombies, then exit 0 on TERM.
	"noreap": func() int {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		var pids []int
		for i := 0; i < 3; i++ {
			pids = append(pids, startHelper("short", nil))
		}
		for _, pid := range pids {
			for !isZombie(pid) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		emit(Record{Event: "ready"})
		<-c
		return 0
	},
	// readline-exit: read one line of stdin, report it, exit HELPER_EXIT.
	"readline-exit": func() int {
		code, _ := strconv.Atoi(os.Getenv("HELPER_EXIT"))
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		emit(Record{Event: "ready", Stdin: strings.TrimSpace(line)})
		return code
	},
}

func startHelper(name string, sys *syscall.SysProcAttr) int {
	env := append(WithoutEnv(os.Environ(), HelperEnv), HelperEnv+"="+name)
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]}, &syscall.ProcAttr{
		Env: env, Files: []uintptr{0, 1, 2}, Sys: sys,
	})
	if err != nil {
		panic(err)
	}
	return pid
}

func startHelperEnv(name string, extra ...string) int {
	env := append(WithoutEnv(os.Environ(), HelperEnv), HelperEnv+"="+name)
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]}, &syscall.ProcAttr{
		Env: append(env, extra...), Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		panic(err)
	}
	return pid
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
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
