// Package redistask wires a Redis stream (internal/redisq) into the
// launcher's task mode: a Source implementing launcher.TaskSource and a
// Sink implementing launcher.ResultSink. It holds no protocol code of its
// own: reading, claiming, handing back and the atomic acknowledge-and-append
// are redisq's; this package maps them onto the launcher's calls, with
// backpressure, bounded waits on the supervision loop, and the lag metric.
//
// Backpressure: Next reads at most Config.Limit entries (workers +
// queue_limit) minus those the redisq.Source holds, so a host never holds
// more than its free worker slots plus queue_limit. Calls on the
// launcher's supervision loop (Begin, Return) are bounded or done in the
// background; Close, after the run, hands back whatever is still held.
package redistask
