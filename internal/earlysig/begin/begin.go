// Package begin begins, during the process's initialization, the early
// signal subscription (earlysig.Begin) and, when the arguments look like a
// run (earlysig.LooksLikeRun), the keeper's start (keeper.BeginEarly), so
// that both are done by the time the launcher needs them. Only the
// otel-qrun command's main package imports it, so that a test binary or a
// library's user never gets its signals caught or a keeper started.
package begin

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
	// Started as the keeper, the process has ended in internal/keeper's
	// initialization, which runs before this one (an import).
	if earlysig.LooksLikeRun(os.Args[1:]) {
		keeper.BeginEarly(KeeperPath, os.Environ())
	}
	earlysig.Begin()
}
