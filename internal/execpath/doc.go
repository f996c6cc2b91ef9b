// Package execpath finds the executable a command name stands for, as
// execvp(3) does, against a given PATH value rather than the process's own,
// so that the launcher (package launcher) and the zero-code bootstraps
// (package instrument) resolve a worker's command exactly as the worker's
// environment would, and in one way.
package execpath
