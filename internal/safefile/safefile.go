package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// DefaultLimit is the size limit of the files read at start: 1 MiB, far
// beyond any configuration file or certificate.
const DefaultLimit = 1 << 20

// ErrNotRegular is wrapped by the error about a path that names a FIFO, a
// directory, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error about a file beyond the size limit.
var ErrTooLarge = errors.New("file too large")

// ReadFile returns the content of the regular file at path, of at most
// limit bytes. Errors name neither the path nor the content: callers add
// the path where it may be shown. The error wraps ErrNotRegular (with the
// kind of file found), ErrTooLarge, or the error of the open or read.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		// A socket cannot be opened at all: say what it is.
		if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() {
			return nil, check(st.Mode(), st.Size(), limit)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(st.Mode(), st.Size(), limit); err != nil {
		return nil, err
	}
	// The size may grow while reading: never read more than the limit.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// Check returns the error ReadFile would give for the kind and size of the
// file at path, without reading it: for files that another library reads
// later (TLS certificates read by the OpenTelemetry SDK).
func Check(path string, limit int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return check(st.Mode(), st.Size(), limit)
}

func check(mode fs.FileMode, size, limit int64) error {
	if !mode.IsRegular() {
		return fmt.Errorf("%w: it is %s", ErrNotRegular, kind(mode))
	}
	if size > limit {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, size, limit)
	}
	return nil
}

// kind names the type of a file that is not regular.
func kind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}
