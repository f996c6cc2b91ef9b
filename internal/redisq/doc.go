// Package redisq is task mode's Redis stream transport: a Source that
// reads task lines from a stream as a member of a consumer group, and a
// Sink that appends result lines to a stream, acknowledging each task
// entry in the same atomic step. It is built on github.com/redis/go-redis/v9
// and has no cobra or viper: the launcher wires it to its task source and
// result sink.
//
// # URLs
//
//	redis://[user[:password]@]host[:port][/db]?stream=NAME[&group=GROUP]
//	rediss://…   (TLS)
//
// The password may also come from REDIS_PASSWORD (PasswordEnv) when the
// URL has none, and the whole URL from the key's environment form
// (Q_CLUSTER_TASKS, Q_CLUSTER_RESULTS), which keeps it off the command
// line. A URL prints with its password as "xxxxx"; errors never hold it.
//
// # Entries
//
// A task entry has a field "task" holding one task line, the same JSON as
// a line of --tasks FILE (carrier inside):
//
//	XADD tasks * task '{"id":"mail-7","payload":{"to":"a@b"},"carrier":{"traceparent":"00-…-01"}}'
//
// An entry without it, with a line that is not a task, or longer than
// max_line, is returned with Err set: it gets an "invalid" result and is
// acknowledged like any other. A result entry has a field "result"
// holding one result line.
//
// # Delivery
//
// Every consumer (one per otel-qrun process, ConsumerName) reads at most
// as many entries as it can start or queue (XREADGROUP COUNT), holds them
// pending, and refreshes their idle time while it runs them. Entries left
// pending by a consumer that stopped refreshing for the claim interval are
// taken by another with XAUTOCLAIM; the delivery count is the attempt
// number, so max_attempts holds across hosts. On stop, entries read but
// not started are handed back: left pending with a long idle time and
// their count lowered by one, so that another consumer claims them at once
// as the same attempt. With results in a stream an entry is acknowledged
// if and only if its result is appended (one Lua script: XACK, then XADD
// when the XACK counted); with results in a file or on stdout the line is
// written first and the entry acknowledged after (at-least-once).
//
// # Outages
//
// Commands that fail because the server is unreachable or not ready are
// retried with exponential backoff and jitter; the outage is reported once
// on the Client's logger, and its end once.
package redisq
