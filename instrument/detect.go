package instrument

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Detect returns the bootstrap for the executable at path: Python for a
// base name python*, Node for node (or nodejs), Java for java. A script
// whose "#!" line names such an interpreter, directly or through env (as
// the console scripts of Python and Node packages do: celery, gunicorn, rq),
// counts as that interpreter. Anything else is None. environ's PATH finds
// the interpreter of "#!/usr/bin/env NAME"; relative paths are relative to
// the current directory.
func Detect(path string, environ []string) Mode { return detect(path, environ, "") }

func detect(path string, environ []string, dir string) Mode {
	if m := modeOf(filepath.Base(path)); m != None {
		return m
	}
	if interp := interpreter(path, environ, dir); interp != "" {
		return modeOf(filepath.Base(interp))
	}
	return None
}

func modeOf(base string) Mode {
	switch {
	case strings.HasPrefix(base, "python"):
		return Python
	case base == "node" || base == "nodejs":
		return Node
	case base == "java":
		return Java
	}
	return None
}

// interpreter returns the interpreter named by the "#!" line of the script
// at path, resolved through environ's PATH (relative entries against dir)
// when the line runs it through env; "" when path is not such a script or
// the interpreter is not found.
func interpreter(path string, environ []string, dir string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return ""
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return ""
	}
	fields := strings.Fields(string(rest))
	if len(fields) == 0 {
		return ""
	}
	if filepath.Base(fields[0]) != "env" {
		return fields[0]
	}
	// #!/usr/bin/env [-S] [NAME=value ...] interpreter [args]
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, "-") || strings.Contains(f, "=") {
			continue
		}
		if strings.Contains(f, "/") {
			return f
		}
		found, _ := lookPath(f, getenv(environ, "PATH"), dir)
		return found
	}
	return ""
}

// lookPath finds an executable regular file named file in the directories
// of pathList, as execvp does, with relative directories taken relative to
// base ("" for the current directory); "" and false when there is none.
func lookPath(file, pathList, base string) (string, bool) {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		if !filepath.IsAbs(dir) && base != "" {
			dir = filepath.Join(base, dir)
		}
		if p := filepath.Join(dir, file); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
