//go:build !linux

package workertest

// affinity is not available outside Linux.
func affinity() []int { return nil }
