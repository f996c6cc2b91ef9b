package execpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Errors of [Find], matched with errors.Is.
var (
	ErrNotFound      = errors.New("command not found")
	ErrNotExecutable = errors.New("command not executable")
)

// Find resolves file as execvp(3) does against pathList (a PATH value:
// directories separated by ':', an empty entry meaning the current
// directory). Relative directories, and a relative file containing a '/',
// are taken relative to base; "" means the current directory. A file
// containing a '/' is not searched for. It returns the path, or an error
// wrapping [ErrNotFound] when no entry exists or [ErrNotExecutable] when
// one exists but cannot be executed (a directory or another file that is
// not a regular file, no execute bit, a stat error); a non-executable match
// is reported only when no later entry is executable.
func Find(file, pathList, base string) (string, error) {
	if strings.Contains(file, "/") {
		p := inBase(file, base)
		if err := Check(p); err != nil {
			return "", err
		}
		return p, nil
	}
	var notExec error
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(inBase(dir, base), file)
		err := Check(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrNotExecutable) && notExec == nil {
			notExec = err
		}
	}
	if notExec != nil {
		return "", notExec
	}
	return "", fmt.Errorf("%s: %w in PATH", file, ErrNotFound)
}

func inBase(p, base string) string {
	if base == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// Check returns nil when p is a regular file with an execute bit, or an
// error wrapping [ErrNotFound] or [ErrNotExecutable] that says why not.
func Check(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", p, ErrNotFound)
		}
		return fmt.Errorf("%s: %w: %v", p, ErrNotExecutable, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s: %w: is a directory", p, ErrNotExecutable)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", p, ErrNotExecutable)
	}
	if st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: %w: permission denied", p, ErrNotExecutable)
	}
	return nil
}
