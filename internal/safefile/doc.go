// Package safefile reads the files otel-qrun reads at start (the --config
// file, the TLS files of the OTLP exporters) without the ways a hostile
// path can hurt: a FIFO that blocks forever, a device that never ends, a
// directory, a file too large to hold in memory.
//
// Only regular files (after symbolic links are followed) are accepted, up
// to a size limit. A file is opened without blocking, so that a FIFO put in
// place between a check and the open cannot block either.
package safefile
