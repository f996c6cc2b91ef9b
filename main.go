// Command otel-qrun runs worker processes with fresh OpenTelemetry SDKs and
// continued trace context. See the README and man page for usage.
package main

import (
	"os"

	"github.com/otel-qrun/otel-qrun/cmd"
)

func main() { os.Exit(cmd.Main()) }
