// Package early starts the keeper during the process's initialization,
// when the arguments look like a run (earlysig.LooksLikeRun), so that its
// fork, its exec and its Go runtime's start overlap the launcher's
// (keeper.BeginEarly). Only the otel-qrun command's main package imports
// it, so that a test binary or a library's user never gets a keeper
// started. It is a package of its own, apart from internal/earlysig/begin,
// because it waits for internal/keeper's initialization (the keeper's own
// process ends there), and the signal subscription must not: Go
// initializes a package once its imports are.
package early

import (
	"os"

	"github.com/otel-qrun/otel-qrun/internal/earlysig"
	"github.com/otel-qrun/otel-qrun/internal/keeper"
)

// KeeperPath is the keeper's executable: the launcher's own, whatever its
// name on disk. cmd starts the keeper from the same path, which is how
// the launcher finds the one started here (keeper.TakeEarly).
const KeeperPath = "/proc/self/exe"

func init() {
	if earlysig.LooksLikeRun(os.Args[1:]) {
		keeper.BeginEarly(KeeperPath, os.Environ())
	}
}
