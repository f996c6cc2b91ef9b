//go:build !linux

package keeper

// Main reports false: there is no keeper outside Linux.
func Main() (status int, ok bool) { return 0, false }

// BeginEarly does nothing: there is no keeper outside Linux.
func BeginEarly(string, []string) {}

// ReleaseEarly does nothing: there is no keeper outside Linux.
func ReleaseEarly() {}
