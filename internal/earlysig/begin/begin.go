// Package begin begins the process's early signal subscription
// (earlysig.Begin) during its initialization. Only the otel-qrun command's
// main package imports it, so that a test binary or a library's user never
// gets its signals caught. It imports the standard library and
// internal/earlysig only, so that it is among the first packages
// initialized (the keeper's early start is internal/keeper/early's).
package begin

import "github.com/otel-qrun/otel-qrun/internal/earlysig"

func init() { earlysig.Begin() }
