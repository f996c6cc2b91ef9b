package launcher_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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

// waitLine waits for a line with want on the terminal; a failure shows
// the lines seen meanwhile.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("terminal closed before a line with %q; seen:\n%s", want, strings.Join(seen, "\n"))
			}
			if strings.Contains(l, want) {
				return l
			}
			seen = append(seen, l)
		case <-timeout:
			t.Fatalf("no line with %q on the terminal within 30s; seen:\n%s", want, strings.Join(seen, "\n"))
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

// shell is an interactive bash on a terminal, a job-control shell as a
// user has, whose commands run with env in their environment (the test
// binary's helpers read it).
type shell struct {
	t      *testing.T
	master *os.File
	lines  <-chan string
	cmd    *exec.Cmd
}

func startShell(t *testing.T, env []string) *shell {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash: job control needs a job-control shell")
	}
	cmd, master := sessionOnTerminal(t, append(env, "PS1=$ ", "TERM=dumb", "HISTFILE=/dev/null"), bash, "--norc", "--noprofile", "-i")
	return &shell{t: t, master: master, lines: ptyLines(master), cmd: cmd}
}

// sessionOnTerminal starts argv with env as the leader of a new session
// whose controlling terminal is a new pty, so that its group is the
// terminal's foreground group, as in a shell. It returns the command and
// the pty's master; the process is killed at the end of the test.
func sessionOnTerminal(t *testing.T, env []string, argv ...string) (*exec.Cmd, *os.File) {
	t.Helper()
	return sessionOn(t, env, false, argv...)
}

// sessionOn is sessionOnTerminal, with /dev/null as the process's stdin
// when nullStdin is true (the pty is then its stdout, stderr and
// controlling terminal).
func sessionOn(t *testing.T, env []string, nullStdin bool, argv ...string) (*exec.Cmd, *os.File) {
	t.Helper()
	master, slave := testenv.OpenPTY(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if nullStdin {
		cmd.Stdin, cmd.SysProcAttr.Ctty = nil, 1
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, master
}

// typ types s on the terminal.
func (sh *shell) typ(s string) {
	sh.t.Helper()
	if _, err := sh.master.WriteString(s); err != nil {
		sh.t.Fatal(err)
	}
}

// ^Z on a terminal stops the whole job, as without the launcher: the
// terminal stops the worker (its group holds the foreground), then the
// launcher takes the terminal back and stops its own group, so bash sees
// the job stopped and prints its prompt. fg continues the launcher, which
// hands the terminal back to the worker and continues it: the worker reads
// what is typed next, and ^D ends the job with status 0.
func TestTerminalStopStopsTheJob(t *testing.T) {
	sh := startShell(t, helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readlines"}))
	sh.typ(os.Args[0] + "\n")
	waitLine(t, sh.lines, `"event":"ready"`)
	sh.typ("\x1a") // ^Z
	waitLine(t, sh.lines, "Stopped")
	// Stopped as by ^Z without the launcher: by SIGTSTP (128+20), not
	// SIGSTOP (147).
	sh.typ("echo stopped=$?\n")
	waitLine(t, sh.lines, "stopped=148")
	sh.typ("fg\n")
	sh.typ("after\n")
	waitLine(t, sh.lines, `"stdin":"after"`)
	sh.typ("\x04") // ^D: the worker reads EOF and exits
	sh.typ("echo status=$?\n")
	waitLine(t, sh.lines, "status=0")
}

// A job stopped by ^Z (the worker, then the launcher) stops gracefully
// when bash's kill ends it (SIGTERM, then SIGCONT to a stopped job): the
// worker gets SIGCONT after the stop signal, handles SIGTERM and exits 0,
// so the launcher exits 0 without waiting for the kill (stop_grace is a
// minute).
func TestStoppedWorkerStopsGracefully(t *testing.T) {
	sh := startShell(t, helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "trap", Grace: time.Minute}))
	start := sh.stopThenKill()
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("stop took %s: the stopped worker waited for the kill", took)
	}
}

// Outside job control (the launcher leads its own session, so its group
// is orphaned, as under ssh -t or docker exec -it), nothing would continue
// a stopped launcher: after ^Z stopped the worker, the launcher continues
// it at once, and it goes on reading the terminal.
func TestTerminalStopOutsideJobControlContinuesTheWorker(t *testing.T) {
	cmd, master := sessionOnTerminal(t, helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readlines"}), os.Args[0])
	lines := ptyLines(master)
	waitLine(t, lines, `"event":"ready"`)
	if _, err := master.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	readsOnAndEnds(t, cmd, master, lines)
}

// waitGroupStop waits until every thread of pid is stopped: its stop is
// then complete, and its parent can see it (waitid(2) with WSTOPPED). The
// state of the process's first thread alone may say stopped before.
func waitGroupStop(t *testing.T, pid int) {
	t.Helper()
	stopped := func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil || len(tasks) == 0 {
			return false
		}
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				return false
			}
			st, err := workertest.ReadStat(tid)
			if err != nil || st.State != 'T' {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !stopped() {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d: not every thread stopped", pid)
		}
		<-tick.C
	}
}

// readsOnAndEnds types a line on the terminal and waits for the worker
// ("readlines") to read it, then ends its input (^D) and waits for the
// launcher to exit 0.
func readsOnAndEnds(t *testing.T, cmd *exec.Cmd, master *os.File, lines <-chan string) {
	t.Helper()
	if _, err := master.WriteString("after\n"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"stdin":"after"`)
	if _, err := master.Write([]byte{4}); err != nil { // ^D
		t.Fatal(err)
	}
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("launcher: %v", err)
	}
}

// With several workers none holds the terminal, so ^Z reaches the
// launcher: it stops every worker with itself, as a shell stops every
// process of a job, and fg continues them all.
func TestTerminalStopStopsEveryWorker(t *testing.T) {
	sh := startShell(t, helperEnvironWith("launcher", launcherParams{Workers: 2, Worker: "trap"}))
	sh.typ(os.Args[0] + "\n")
	var pids []int
	for len(pids) < 2 {
		var rec record
		line := waitLine(t, sh.lines, `"event":"ready"`)
		if err := json.Unmarshal([]byte(line[strings.Index(line, "{"):]), &rec); err != nil {
			t.Fatalf("ready line %q: %v", line, err)
		}
		pids = append(pids, rec.PID)
	}
	sh.typ("\x1a") // ^Z
	waitLine(t, sh.lines, "Stopped")
	for _, pid := range pids {
		waitState(t, pid, func(s byte) bool { return s == 'T' }, "stopped")
	}
	sh.typ("fg\n")
	for _, pid := range pids {
		waitState(t, pid, func(s byte) bool { return s != 'T' }, "running again")
	}
	sh.typ("\x03") // ^C: the job stops gracefully
	sh.typ("echo done-$?\n")
	waitLine(t, sh.lines, "done-")
}

// waitState waits until the state of process pid (proc(5)) satisfies ok.
// A process stopped or continued by a signal another process sent tells
// nobody but its parent (here the launcher): the test looks, with a bound.
func waitState(t *testing.T, pid int, ok func(byte) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		st, err := workertest.ReadStat(pid)
		if err != nil {
			t.Fatalf("worker %d: %v", pid, err)
		}
		if ok(st.State) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d not %s (state %c)", pid, what, st.State)
		}
	}
}

// kill %1 of a job stopped by ^Z whose worker reads the terminal: the
// worker, continued in the background, is stopped again at once by its
// read (SIGTTIN); the launcher, stopping, continues it to take its stop
// signal instead of stopping the job again, and the job ends.
func TestKillOfStoppedJobWhoseWorkerReadsTheTerminal(t *testing.T) {
	sh := startShell(t, helperEnvironWith("launcher", launcherParams{Workers: 1, Worker: "readlines", Grace: time.Minute}))
	sh.stopThenKill()
}

// stopThenKill runs the test binary (the launcher helper of the shell's
// environment) on the shell, stops its job with ^Z once its worker is
// ready, ends it with kill %1, and waits for its status 0. It returns when
// the kill was typed. bash's wait may find the job still stopped, its own
// SIGCONT not noticed yet ("wait_for_job: job 1 is stopped", 148: stopped
// by SIGTSTP): it waits again then.
func (sh *shell) stopThenKill() time.Time {
	sh.t.Helper()
	sh.typ(os.Args[0] + "\n")
	waitLine(sh.t, sh.lines, `"event":"ready"`)
	sh.typ("\x1a") // ^Z
	waitLine(sh.t, sh.lines, "Stopped")
	start := time.Now()
	sh.typ("kill %1; wait %1; s=$?; while [ $s = 148 ]; do wait %1; s=$?; done; echo status=$s\n")
	waitLine(sh.t, sh.lines, "status=0")
	return start
}

// ^Z landing while a worker is being started on the terminal, after the
// forked child took the terminal's foreground and before it executed the
// worker's program, stopped the child there. The launcher's spawner thread
// waits for that exec (vfork), holding its P, so it hung until SIGKILL (the
// keeper now continues such a child; no goroutine of the launcher could
// with GOMAXPROCS=1). And with ^Z held down, the SIGCHLD of a worker
// stopped on the terminal could be dropped from a full signal channel, and
// the worker was never continued. The terminal gets a stream of ^Z while a
// worker that exits at once is restarted again and again (each start a
// chance to land in the window); once the stream ends, starts must go on,
// and SIGTERM must end the launcher. Outside job control (the launcher
// leads its own session), each stopped worker is continued at once.
// With stdin not the terminal (/dev/null), no worker takes the terminal,
// and ^Z reaches the launcher's group, which a child belongs to from its
// fork until its setpgid: the same hang.
func TestTerminalStopsDuringStartsDoNotHang(t *testing.T) {
	for _, procs := range []string{"1", "2"} {
		for _, stdin := range []string{"terminal", "devnull"} {
			t.Run("GOMAXPROCS="+procs+"/stdin="+stdin, func(t *testing.T) {
				terminalStopsDuringStarts(t, procs, stdin == "devnull")
			})
		}
	}
}

func terminalStopsDuringStarts(t *testing.T, procs string, devNull bool) {
	env := append(helperEnvironWith("launcher", launcherParams{
		Workers: 1, Worker: "exit", Restart: launcher.RestartAlways}), "GOMAXPROCS="+procs)
	cmd, master := sessionOn(t, env, devNull, os.Args[0])
	lines := ptyLines(master)
	waitLine(t, lines, `"event":"ready"`)
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		// The rate of the stream: a ^Z every 200 µs, far more often
		// than a start (a few ms), so that some land in the window.
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for range 2000 {
			<-tick.C
			if _, err := master.Write([]byte{0x1a}); err != nil {
				return
			}
		}
	}()
	starts := 0
	for flooding := true; flooding; {
		select {
		case <-flooded:
			flooding = false
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the terminal closed during the stream of ^Z")
			}
			if strings.Contains(l, `"event":"ready"`) {
				starts++
			}
		}
	}
	for range 20 {
		waitLine(t, lines, `"event":"ready"`)
	}
	t.Logf("%d starts during the stream of ^Z", starts)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
}

// signal.Notify drops a signal that does not fit in the channel: under a
// stream of signals, the SIGCHLD of a worker stopped on the terminal may
// be the one dropped. Any other signal the launcher handles looks for the
// stopped worker too. The launcher here never gets SIGCHLD; after ^Z
// stopped its worker, a SIGWINCH (forwarded, and ignored by the worker)
// must be enough for it to continue the worker (outside job control), which
// then reads what is typed next.
func TestTerminalStopSeenWithoutItsSIGCHLD(t *testing.T) {
	cmd, master := sessionOnTerminal(t, helperEnvironWith("launcher", launcherParams{
		Workers: 1, Worker: "readlines", NoSIGCHLD: true}), os.Args[0])
	lines := ptyLines(master)
	waitLine(t, lines, `"event":"ready"`)
	// The worker leads the terminal's foreground group.
	worker, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPGRP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := master.Write([]byte{0x1a}); err != nil { // ^Z
		t.Fatal(err)
	}
	waitGroupStop(t, worker)
	if err := cmd.Process.Signal(syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	readsOnAndEnds(t, cmd, master, lines)
}
