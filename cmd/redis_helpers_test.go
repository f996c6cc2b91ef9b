package cmd

import (
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
)

// startRedis starts a real redis-server of its own for one test, on a free
// loopback port with no persistence, and stops it when the test ends. The
// test is skipped when redis-server is not installed (Debian package
// redis-server; .ci/run installs it).
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	if _, err := redistest.Binary(); err != nil {
		t.Skip(err)
	}
	s, err := redistest.Start(redistest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
