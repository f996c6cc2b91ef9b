package cmd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/otel-qrun/otel-qrun/internal/earlysig"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// The head start is begun for the arguments that run a command, and for
// no others: a subcommand, help or the version. earlysig.LooksLikeRun,
// which decides the keeper's start before the command tree exists, judges
// them alike.
func TestRunsCommand(t *testing.T) {
	for _, tc := range []struct {
		args  string
		want  bool
		looks *bool // earlysig.LooksLikeRun, where it errs (no command tree)
	}{
		{args: "-- true", want: true},
		{args: "true", want: true},
		{args: "--workers 2 -- sh -c x", want: true},
		{args: "--workers 2 sh -c x", want: true},
		{args: "-- config", want: true},
		{args: "true --help", want: true, looks: ptr(false)}, // the command's own flag
		{args: "--workers 1 sh -c x --version", want: true, looks: ptr(false)},
		{args: "--name config -- true", want: true, looks: ptr(false)}, // a flag's value
		{args: "", want: false},
		{args: "config -- true", want: false},
		{args: "--verbose config -- true", want: false},
		{args: "enqueue --help", want: false},
		{args: "help", want: false},
		{args: "completion bash", want: false},
		{args: "carrier", want: false},
		{args: "version", want: false},
		{args: "__complete --", want: false},
		{args: "--help", want: false},
		{args: "--help=true", want: false},
		{args: "-h", want: false},
		{args: "--version", want: false},
		{args: "--version=true", want: false},
		{args: "-v", want: false},
		{args: "--workers 2 --help -- true", want: false},
	} {
		t.Run(tc.args, func(t *testing.T) {
			root := newRootCmd(newFactory())
			if got := runsCommand(root, strings.Fields(tc.args)); got != tc.want {
				t.Errorf("runsCommand(%q) = %v, want %v", tc.args, got, tc.want)
			}
			looks := tc.want
			if tc.looks != nil {
				looks = *tc.looks
			}
			if got := earlysig.LooksLikeRun(strings.Fields(tc.args)); got != looks {
				t.Errorf("earlysig.LooksLikeRun(%q) = %v, want %v", tc.args, got, looks)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A command that runs nothing dies of SIGPIPE when its output is gone, as
// any program that does not catch it: the early subscription leaves
// SIGPIPE to the run, and is given back before the command runs.
func TestNoRunDiesOfSIGPIPE(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // no reader: the first write raises SIGPIPE
	c := exec.Command(qrunBin, "--help")
	c.Stdout = w
	err = c.Run()
	w.Close()
	if ws, _ := c.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGPIPE {
		t.Errorf("otel-qrun --help into a pipe with no reader: %v, want killed by SIGPIPE", err)
	}
}

// The process's initialization subscribes the launcher's signals
// (internal/earlysig); a command that is no run gives them back: a
// SIGTERM ends otel-qrun enqueue waiting on its stdin, as it ends any
// program that does not catch it. The signal is sent once enqueue reads
// its stdin, long after the subscription was made.
func TestNoRunGivesSignalsBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/task/TID/syscall")
	}
	c := exec.Command(qrunBin, "enqueue")
	c.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true")
	stdin, err := c.StdinPipe() // held open: enqueue waits for its payload
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitReadingStdin(t, c.Process.Pid)
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second): // a bound of last resort
		_ = c.Process.Kill()
		<-exited
		t.Fatal("otel-qrun enqueue outlived a SIGTERM: its signals were never given back")
	}
	if ws, _ := c.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("otel-qrun enqueue ended with %v, want killed by SIGTERM", c.ProcessState)
	}
}

// waitReadingStdin waits until a thread of pid is blocked in read(2) on
// fd 0 (/proc/PID/task/TID/syscall: the number, then the arguments).
func waitReadingStdin(t *testing.T, pid int) {
	t.Helper()
	want := strconv.Itoa(unix.SYS_READ) + " 0x0 "
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second) // a bound of last resort
	for {
		tids, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, tid := range tids {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, tid.Name()))
			if strings.HasPrefix(string(b), want) {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("process %d never read its stdin", pid)
		}
	}
}

// earlysig.LooksLikeRun, which decides the keeper's early start before the
// command tree exists, knows every subcommand of the tree.
func TestEarlySubcommands(t *testing.T) {
	root := newRootCmd(newFactory())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	// Added by cobra when it executes (shell completion's requests).
	names = append(names, cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd)
	slices.Sort(names)
	got := slices.Sorted(slices.Values(earlysig.Subcommands))
	if !slices.Equal(got, names) {
		t.Errorf("earlysig.Subcommands = %v, want the command tree's %v", got, names)
	}
}

// A run takes the keeper its process began during its initialization
// (internal/keeper/early, keeper.TakeEarly): the launcher has one
// keeper, never a second started beside it.
func TestRunHasOneKeeper(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no keeper outside Linux")
	}
	c := exec.Command(qrunBin, "--", "sh", "-c", "echo started; read x; true")
	c.Env = append(os.Environ(), quietTelemetry...)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := c.Wait(); err != nil {
			t.Errorf("otel-qrun: %v", err)
		}
	}()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "started\n" {
		t.Fatalf("the worker said %q, want started", line)
	}
	keepers := 0
	for _, st := range workertest.Processes() {
		if st.PPID != c.Process.Pid {
			continue
		}
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID)); string(cmdline) == "otel-qrun-keeper\x00" {
			keepers++
		}
	}
	if keepers != 1 {
		t.Errorf("the launcher has %d keepers, want 1", keepers)
	}
}
