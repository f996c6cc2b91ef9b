package cmd

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// The keeper (otel-qrun run again as otel-qrun-keeper) runs while the
// program's packages are initialized, before the heavy ones: it does not
// pay for the SDK, gRPC, the OTLP protobuf registry, Prometheus, cobra,
// viper or the Redis client, so a short run does not wait for it to start.
func TestKeeperSkipsTheHeavyPackages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the keeper exists on Linux only")
	}
	c := exec.Command(qrunBin)
	c.Env = []string{launcher.KeeperEnv + "=1", "GODEBUG=inittrace=1"}
	c.Stdin = strings.NewReader("done\n")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("keeper: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("keeper wrote to stdout: %q", stdout.String())
	}
	inits := make(map[string]bool)
	for _, line := range strings.Split(stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			inits[f[1]] = true
		}
	}
	if !inits["runtime"] {
		t.Fatalf("no init trace (GODEBUG=inittrace=1):\n%s", stderr.String())
	}
	for _, heavy := range []string{
		"go.opentelemetry.io/proto/otlp/trace/v1",
		"google.golang.org/grpc",
		"github.com/prometheus/client_golang/prometheus",
		"github.com/spf13/cobra",
		"github.com/spf13/viper",
		"github.com/redis/go-redis/v9",
	} {
		if inits[heavy] {
			t.Errorf("the keeper initialized %s", heavy)
		}
	}
}
