//go:build !linux

package workertest

import "time"

// WaitExit waits until pid has exited (a zombie counts, as in Alive) or
// deadline has passed, and reports whether it exited. Without pidfds it
// polls.
func WaitExit(pid int, deadline time.Time) bool { return pollExit(pid, deadline) }
