// Package begin begins the process's early signal subscription
// (earlysig.Begin) during its initialization. Only the otel-qrun command's
// main package imports it, so that a test binary or a library's user never
// gets its signals caught.
package begin

import "github.com/otel-qrun/otel-qrun/internal/earlysig"

func init() { earlysig.Begin() }
