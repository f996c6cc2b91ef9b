// Command otel-qrun runs worker processes with fresh OpenTelemetry SDKs and
// continued trace context. See the README and man page for usage.
package main

import (
	"os"

	"github.com/otel-qrun/otel-qrun/cmd"
	// Subscribes the launcher's signals among the first packages
	// initialized, before the others and main (internal/earlysig).
	_ "github.com/otel-qrun/otel-qrun/internal/earlysig/begin"
	// Starts the keeper as early when the arguments look like a run.
	_ "github.com/otel-qrun/otel-qrun/internal/keeper/early"
)

func main() { os.Exit(cmd.Main()) }
