// Package redistest starts real redis-server processes for tests: on a
// free loopback port, in a temporary directory, with no persistence unless
// asked (AOF for restart tests), stopped by the test. It is imported only
// by tests; the Debian package redis-server provides the binary (.ci/run
// installs it).
//
// One server per test package: TestMain calls [Main] (or StopShared after
// m.Run), and tests call [Shared], which starts the server the first time a
// test needs it. Tests keep apart by using their own stream names.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Binary is the redis-server executable the tests run: $QRUN_REDIS_SERVER
// when set, else redis-server looked up in PATH.
func Binary() (string, error) {
	if b := os.Getenv("QRUN_REDIS_SERVER"); b != "" {
		return b, nil
	}
	b, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found in PATH (install the Debian package redis-server, or set QRUN_REDIS_SERVER): %w", err)
	}
	return b, nil
}

// Options configure a server.
type Options struct {
	// AOF turns on the append-only file (appendfsync always), so that a
	// Restart keeps the data: for tests of a Redis restart. Without it the
	// server persists nothing (--save "" --appendonly no).
	AOF bool
}

// Server is one running redis-server. Its methods are safe for concurrent
// use.
type Server struct {
	opts Options
	dir  string // working directory (AOF files); removed by Stop
	port int

	mu  sync.Mutex
	cmd *exec.Cmd     // nil while stopped
	out io.ReadCloser // the server's stdout (its log)
}

// startTimeout bounds the wait for "Ready to accept connections", as a
// last resort on a loaded machine: the wait itself is on the server's log.
const startTimeout = 60 * time.Second

// Start starts a redis-server on a free port of 127.0.0.1 and returns once
// it accepts connections (it has logged so). Stop it with Stop.
func Start(opts Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "qrun-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, dir: dir}
	var lastErr error
	for range 5 { // the free port may be taken between Listen and the server's bind
		if s.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server on s.port and waits for it to log readiness.
func (s *Server) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--dir", s.dir, "--logfile", "", "--daemonize", "no",
		"--save", "", "--protected-mode", "no", "--databases", "16",
	}
	if s.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var log strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Ready to accept connections") {
				ready <- nil
				_, _ = io.Copy(io.Discard, out) // keep the pipe drained
				return
			}
			log.WriteString(line + "\n")
		}
		ready <- fmt.Errorf("redis-server exited before it was ready:\n%s", log.String())
	}()
	select {
	case err = <-ready:
	case <-time.After(startTimeout):
		err = errors.New("redis-server did not log readiness in time")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	s.mu.Lock()
	s.cmd, s.out = cmd, out
	s.mu.Unlock()
	return nil
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr is the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns "redis://127.0.0.1:port/db" followed by query (which starts
// with "?" when not empty).
func (s *Server) URL(db int, query string) string {
	return "redis://" + s.Addr() + "/" + strconv.Itoa(db) + query
}

// Kill stops the server at once with SIGKILL (no AOF rewrite, as after a
// crash) and waits for it to exit.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

// Restart stops the server with SIGTERM (a clean shutdown, which writes
// nothing without AOF) and starts it again on the same port and directory.
func (s *Server) Restart() error {
	if err := s.stop(syscall.SIGTERM); err != nil {
		return err
	}
	return s.Resume()
}

// Resume starts a stopped server again on the same port and directory.
func (s *Server) Resume() error { return s.start() }

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // a signal or a non-zero status at shutdown is expected
	}
	return err
}

// Stop stops the server and removes its directory. It is idempotent.
func (s *Server) Stop() {
	_ = s.stop(syscall.SIGKILL)
	_ = os.RemoveAll(s.dir)
}

// Dir returns the server's working directory.
func (s *Server) Dir() string { return filepath.Clean(s.dir) }

var shared struct {
	sync.Mutex
	srv *Server
	err error
}

// keySeq numbers the keys Key hands out in this test binary.
var keySeq atomic.Uint64

// Key returns a Redis key (a stream's name) of t's own: its name, with
// "/" and spaces made ":" and "_", then suffix, then a number unique in
// the test binary. A name made of t.Name() alone is the same again when
// a test runs twice against the shared server (go test -count=2, a
// retried subtest), and the second run reads the entries and results the
// first one left.
func Key(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s:%s:%d", name, suffix, keySeq.Add(1))
}

// Shared returns the test package's shared server (no persistence),
// starting it on the first call. It fails the test when redis-server cannot
// start. StopShared (or Main) stops it.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start(Options{})
	}
	if shared.err != nil {
		t.Fatalf("redistest: %v", shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server if one was started.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv = nil
	}
}

// Main runs the tests and stops the shared server: TestMain calls
// os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	defer StopShared()
	return m.Run()
}
