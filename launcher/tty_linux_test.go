package launcher_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/testenv"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// A single worker on a terminal gets the terminal's foreground: it can read
// from it (in a background group it would be stopped by SIGTTIN), as if it
// ran without the launcher.
func TestSingleWorkerReadsTheTerminal(t *testing.T) {
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readline"})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// The launcher leads a new session whose controlling terminal is the
	// pty, so its group is the terminal's foreground group, as in a shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, err := master.WriteString("typed\n"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"event":"ready"`) {
				got <- sc.Text()
				return
			}
		}
		got <- ""
	}()
	select {
	case line := <-got:
		if !strings.Contains(line, `"stdin":"typed"`) {
			t.Errorf("worker read %q, want the line typed on the terminal", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not read the terminal (stopped by SIGTTIN in a background group?)")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("launcher: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("launcher did not exit")
	}
}

// ptyLines hands the lines written to the terminal to a channel.
func ptyLines(master *os.File) <-chan string {
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("terminal closed before a line with %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line with %q on the terminal within 30s", want)
		}
	}
}

func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("launcher did not exit")
	}
	return nil
}

// The terminal follows the worker across restarts, as tini does: the
// restarted worker reads the terminal too (a worker in a background group
// would be stopped by SIGTTIN and the launcher would hang).
func TestRestartedWorkerReadsTheTerminal(t *testing.T) {
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readline-exit",
		WorkerParams: workertest.Params{Exit: 3}, Restart: launcher.RestartOnFailure})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := ptyLines(master)
	for _, typed := range []string{"first", "second", "third"} {
		if _, err := master.WriteString(typed + "\n"); err != nil {
			t.Fatal(err)
		}
		waitLine(t, lines, `"stdin":"`+typed+`"`)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd)
}

// A job stopped by ^Z (SIGTSTP stops the worker, which stops the
// launcher) stops gracefully when the shell kills it as bash's kill does a
// stopped job (SIGTERM, then SIGCONT): the worker gets SIGCONT after the
// stop signal, handles SIGTERM and exits 0, so the launcher exits 0
// without waiting for the kill.
func TestStoppedWorkerStopsGracefully(t *testing.T) {
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "trap", Grace: time.Minute})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() }()
	lines := ptyLines(master)
	var ready struct{ PID int }
	if err := json.Unmarshal([]byte(waitLine(t, lines, `"event":"ready"`)), &ready); err != nil {
		t.Fatal(err)
	}
	if _, err := master.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	waitJobStopped(t, cmd.Process.Pid)
	if !stopped(ready.PID) {
		t.Errorf("the launcher stopped, its worker %d did not", ready.PID)
	}
	start := time.Now()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("launcher: %v, want exit 0", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("stop took %s: the stopped worker waited for the kill", took)
	}
}

// waitJobStopped waits until the launcher pid, a child of the test, stops
// (the test is its shell).
func waitJobStopped(t *testing.T, pid int) {
	t.Helper()
	stoppedC := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WUNTRACED, nil)
		stoppedC <- ws
	}()
	select {
	case ws := <-stoppedC:
		if !ws.Stopped() {
			t.Fatalf("launcher: wait status %v, want stopped", ws)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the launcher did not stop after ^Z stopped its worker: the shell would wait for ever")
	}
}

// stopped reports whether pid is stopped by a signal.
func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'T'
}

// ^C on a terminal stops the launcher even under restart always: a worker
// holding the terminal's foreground that dies of SIGINT is taken as SIGINT
// sent to the launcher, as a shell does: a graceful stop, exit 130.
func TestCtrlCStopsARestartingLauncher(t *testing.T) {
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "trap", Restart: launcher.RestartAlways})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := ptyLines(master)
	waitLine(t, lines, `"event":"ready"`)
	if _, err := master.Write([]byte{0x03}); err != nil { // ^C
		t.Fatal(err)
	}
	err := waitExit(t, cmd)
	if cmd.ProcessState.ExitCode() != 130 {
		t.Errorf("launcher: %v, want exit 130", err)
	}
}

// ^Z on a terminal stops the whole job, as without the launcher: the
// terminal stops the worker (its group holds the foreground), then the
// launcher takes the terminal back and stops its own group, so the shell
// (here the test, its parent) sees the job stopped and gets the terminal.
// When the shell continues the job (fg: SIGCONT to the launcher's group,
// which holds the terminal), the worker is continued and gets the terminal
// again: it reads what is typed next.
func TestTerminalStopStopsTheJob(t *testing.T) {
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readlines"})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() }()
	lines := ptyLines(master)
	waitLine(t, lines, `"event":"ready"`)
	if _, err := master.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	waitJobStopped(t, cmd.Process.Pid)
	if fg, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPGRP); err != nil || fg != cmd.Process.Pid {
		t.Errorf("foreground group of the terminal %d (%v), want the launcher's %d", fg, err, cmd.Process.Pid)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT); err != nil { // fg
		t.Fatal(err)
	}
	if _, err := master.WriteString("after\n"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"stdin":"after"`)
	if _, err := master.Write([]byte{4}); err != nil { // ^D: the worker reads EOF and exits
		t.Fatal(err)
	}
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("launcher: %v", err)
	}
}
