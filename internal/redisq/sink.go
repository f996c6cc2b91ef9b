package redisq

import (
	"bytes"
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// ResultField is the field of a results-stream entry that holds the result
// line.
const ResultField = "result"

// Sink appends result lines to a stream (XADD stream * result LINE). It is
// safe for concurrent use.
type Sink struct {
	c      *Client
	stream string
}

// NewSink returns a Sink that appends to stream through c. When tasks come
// from a Source on the same server (SameServer of the two URLs), pass the
// Source's Client: one pool, one outage report.
func NewSink(c *Client, stream string) *Sink { return &Sink{c: c, stream: stream} }

// Stream returns the results stream's key.
func (s *Sink) Stream() string { return s.stream }

// ackAddScript appends ARGV[3] to KEYS[2] and acknowledges entry ARGV[2]
// of group ARGV[1] in stream KEYS[1], only if that entry is pending: one
// atomic step, so that an entry is acknowledged if and only if its result
// is in the results stream, and an entry run twice (claimed from a host
// taken for dead that was only slow) gets one result, from the first host
// to finish. The XADD comes first because Redis does not roll back a
// script (nor a MULTI) when a command fails: an XADD refused (a results key
// of the wrong type, out of memory) leaves the entry pending, where MULTI
// XACK XADD EXEC would acknowledge it without a result. Returns the new
// entry id, or false when the entry was not pending.
var ackAddScript = redis.NewScript(`
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then
  return false
end
local id = redis.call('XADD', KEYS[2], '*', 'result', ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return id
`)

// Put appends one result line (a trailing "\n" is dropped) and returns the
// new entry's id.
//
// With e nil (tasks not from Redis) it is a plain XADD. With e from a
// Source on the same server and database (the same Client, or URLs for
// which SameServer holds) the acknowledgement of e and the append are one
// atomic script (EVALSHA; see ackAddScript for why not MULTI XACK XADD
// EXEC): written is false, and nothing is
// appended, when e had been acknowledged already (by a host that claimed
// it, or by an earlier try of this call whose reply was lost), so no task
// gets two results. On different servers the result is
// appended first and e acknowledged after (at-least-once, as with a file).
// In every case e is released by its Source.
//
// Errors that pass (Redis down or restarting) are retried with backoff
// until ctx ends; then e stays pending and is claimed and run again by
// some host after the claim interval.
func (s *Sink) Put(ctx context.Context, line []byte, e *Entry) (id string, written bool, err error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if e == nil || e.src == nil {
		err = s.c.do(ctx, "append a result to "+s.stream, func(ctx context.Context) (err error) {
			id, err = s.c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, Values: []any{ResultField, line}}).Result()
			return err
		})
		return id, err == nil, err
	}
	src := e.src
	if src.c != s.c && !SameServer(src.c.URL(), s.c.URL()) {
		err = s.c.do(ctx, "append a result to "+s.stream, func(ctx context.Context) (err error) {
			id, err = s.c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, Values: []any{ResultField, line}}).Result()
			return err
		})
		if err != nil {
			return "", false, err
		}
		_, err = src.Ack(ctx, e)
		return id, true, err
	}
	var res any
	err = s.c.do(ctx, "acknowledge "+e.ID+" and append its result", func(ctx context.Context) error {
		var err error
		res, err = ackAddScript.Run(ctx, s.c.rdb, []string{src.stream, s.stream}, src.group, e.ID, line).Result()
		if err == redis.Nil {
			res, err = nil, nil
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	src.release(e)
	if str, ok := res.(string); ok {
		return str, true, nil
	}
	return "", false, nil
}

// PutBatch is Put for many lines at once, in one round trip (a pipeline):
// line i is the result of es[i] (nil for a task not from Redis). It
// returns how many lines, from the first, are done (appended, or found
// acknowledged already); on an error the rest are not, and a later call
// goes on from there. Each line is handled as by Put, with the same
// atomic step on one server; a batch of entries of a Source on another
// server is done line by line with Put.
func (s *Sink) PutBatch(ctx context.Context, lines [][]byte, es []*Entry) (int, error) {
	for _, e := range es {
		if e != nil && e.src != nil && e.src.c != s.c && !SameServer(e.src.c.URL(), s.c.URL()) {
			for i := range lines {
				if _, _, err := s.Put(ctx, lines[i], es[i]); err != nil {
					return i, err
				}
			}
			return len(lines), nil
		}
	}
	done := 0
	err := s.c.do(ctx, "append results to "+s.stream, func(ctx context.Context) error {
		err := s.putBatch(ctx, lines, es, &done)
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// a restarted server forgot the script: load it, go on
			if err := ackAddScript.Load(ctx, s.c.rdb).Err(); err != nil {
				return err
			}
			err = s.putBatch(ctx, lines, es, &done)
		}
		return err
	})
	return done, err
}

// putBatch sends lines[*done:] in one pipeline and counts on *done the
// lines done, up to the first that failed.
func (s *Sink) putBatch(ctx context.Context, lines [][]byte, es []*Entry, done *int) error {
	pipe := s.c.rdb.Pipeline()
	cmds := make([]redis.Cmder, 0, len(lines)-*done)
	for i := *done; i < len(lines); i++ {
		line := bytes.TrimSuffix(lines[i], []byte{'\n'})
		if e := es[i]; e != nil && e.src != nil {
			// EVALSHA: the script is sent once (Put's Run or the
			// NOSCRIPT fallback above loads it), not with every line
			cmds = append(cmds, ackAddScript.EvalSha(ctx, pipe, []string{e.src.stream, s.stream}, e.src.group, e.ID, line))
		} else {
			cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, Values: []any{ResultField, line}}))
		}
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if e := es[*done]; e != nil && e.src != nil {
			e.src.release(e)
		}
		*done++
	}
	return nil
}
