//go:build unix

package safefile

import "syscall"

// openFlags opens a FIFO without waiting for a writer, so that the type
// check after the open is reached.
const openFlags = syscall.O_NONBLOCK
