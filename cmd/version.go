package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by the release: -X github.com/otel-qrun/otel-qrun/cmd.version=...
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildInfo is what `otel-qrun version` reports.
type buildInfo struct {
	Version, Commit, Date, GoVersion, Platform string
}

// readBuildInfo combines the release's -X values with what the Go toolchain
// recorded, so `go install` builds report their module version and commit.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	for _, p := range []*string{&b.Version, &b.Commit, &b.Date} {
		if *p == "" {
			*p = "unknown"
		}
	}
	if b.Version == "unknown" {
		b.Version = "dev"
	}
	return b
}

func versionString() string {
	b := readBuildInfo()
	return fmt.Sprintf("otel-qrun %s (commit %s, built %s, %s %s)", b.Version, b.Commit, b.Date, b.GoVersion, b.Platform)
}

func newVersionCmd(f *factory) *cobra.Command {
	return silence(&cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(f.IO.Out, versionString())
			return err
		},
	})
}
