package safefile_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/safefile"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(regular, []byte("workers: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", 101)), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	if b, err := safefile.ReadFile(regular, 100); err != nil || string(b) != "workers: 2\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	for _, tc := range []struct {
		path string
		want error
		msg  string
	}{
		{fifo, safefile.ErrNotRegular, "a named pipe (FIFO)"},
		{link, safefile.ErrNotRegular, "a named pipe (FIFO)"},
		{dir, safefile.ErrNotRegular, "a directory"},
		{"/dev/zero", safefile.ErrNotRegular, "a character device"},
		{sock, safefile.ErrNotRegular, "socket"},
		{big, safefile.ErrTooLarge, "101 bytes, more than 100"},
		{filepath.Join(dir, "missing"), os.ErrNotExist, "no such file"},
	} {
		_, err := safefile.ReadFile(tc.path, 100)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ReadFile(%s) = %v, want %v with %q", tc.path, err, tc.want, tc.msg)
		}
		if cerr := safefile.Check(tc.path, 100); !errors.Is(cerr, tc.want) {
			t.Errorf("Check(%s) = %v, want %v", tc.path, cerr, tc.want)
		}
	}
	if err := safefile.Check(regular, 100); err != nil {
		t.Errorf("Check(regular) = %v", err)
	}
}
