package launcher_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// A single worker on a terminal gets the terminal's foreground: it can read
// from it (in a background group it would be stopped by SIGTTIN), as if it
// ran without the launcher.
func TestSingleWorkerReadsTheTerminal(t *testing.T) {
	master, slave := openPTY(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnviron("launcher", "HELPER_WORKERS=1", "HELPER_WORKER=readline", "HELPER_SUBREAPER=0")
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
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("launcher: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("launcher did not exit")
	}
}
