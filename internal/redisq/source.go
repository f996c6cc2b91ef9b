package redisq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// TaskField is the field of a stream entry that holds the task line.
const TaskField = "task"

// ErrNotHeld is returned by Started when the entry is no longer pending on
// this consumer: another consumer claimed it (this one was taken for dead)
// or it was acknowledged. The caller should not run it: its result would be
// dropped.
var ErrNotHeld = errors.New("entry no longer held by this consumer")

// handBackIdle is the idle time a handed-back entry gets: far above any
// claim interval, so that the next XAUTOCLAIM of any consumer takes it, and
// below the Unix time in milliseconds, which Redis would clamp to 0.
const handBackIdle = 365 * 24 * time.Hour

// Entry is one stream entry read by a Source: a task, or an entry that is
// not one (Err set). The pointer is the handle the launcher carries with
// the task and gives back to Started, HandBack, Ack and Sink.Put.
type Entry struct {
	// ID is the stream entry id ("1700000000000-0").
	ID string
	// Attempt is the attempt number of this delivery: the entry's delivery
	// count in the group, 1 when first read, one more at each claim by
	// XAUTOCLAIM (so it counts the attempts of every host). An entry whose
	// Attempt is above max_attempts is not run: it ends "lost".
	Attempt int
	// Task is the parsed "task" field when Err is nil. Its ID is the task
	// line's "id", or the entry ID when the line has none.
	Task taskproto.Task
	// Err, when not nil, says why the entry is not a task (an *EntryError,
	// matching taskproto.ErrInvalidTask): it gets an "invalid" result,
	// written and acknowledged like any other; Task.ID is still set.
	Err error

	src     *Source
	started bool // an attempt started: a hand-back keeps the count
}

// Exhausted reports whether e is past maxAttempts (the max_attempts key; 0
// means no limit): its delivery count says that every attempt it was
// allowed was given, on this host or others, so it is not run again but
// ends "lost", with its result written (Sink.Put or Ack).
func (e *Entry) Exhausted(maxAttempts int) bool { return maxAttempts > 0 && e.Attempt > maxAttempts }

// EntryError describes an entry that is not a task. It matches
// taskproto.ErrInvalidTask and unwraps to the reason.
type EntryError struct {
	// EntryID is the stream entry id.
	EntryID string
	// Err is the reason, a phrase that follows "entry ID", e.g. `has no
	// "task" field`.
	Err error
}

// Error returns "entry ID " followed by the reason.
func (e *EntryError) Error() string { return "entry " + e.EntryID + " " + e.Err.Error() }

// Unwrap returns the reason.
func (e *EntryError) Unwrap() error { return e.Err }

// Is reports whether target is taskproto.ErrInvalidTask.
func (e *EntryError) Is(target error) bool { return target == taskproto.ErrInvalidTask }

// Source reads tasks from a stream as a member of a consumer group. Read,
// Started, HandBack, Ack, Lag and Close are safe for concurrent use.
//
// Every entry Read returns is held by the source (pending on its consumer
// in Redis) until Ack, Sink.Put, HandBack or Close; while held, the source
// refreshes its idle time every third of the claim interval, so that other
// hosts claim only the entries of a consumer that stopped refreshing
// (a dead or cut-off host), however long a task runs.
type Source struct {
	c             *Client
	stream, group string
	consumer      string
	claimInterval time.Duration
	block         time.Duration
	maxLine       int

	readMu    sync.Mutex // one Read at a time: cursor and group state
	cursor    string     // XAUTOCLAIM cursor
	lastClaim time.Time
	grouped   bool
	suspect   bool // an XREADGROUP failed: its entries may be pending here, unseen

	backMu sync.Mutex // a hand-back and the hand-back of orphans, one at a time

	mu   sync.Mutex
	held map[string]*Entry

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// SourceOption configures a Source.
type SourceOption func(*Source)

// WithConsumer sets the consumer name (default: ConsumerName()).
func WithConsumer(name string) SourceOption { return func(s *Source) { s.consumer = name } }

// WithClaimInterval sets how long an entry stays pending on a consumer
// that does not refresh it before another consumer claims it (default
// 30s; the launcher passes the claim_interval key). It must be > 0.
func WithClaimInterval(d time.Duration) SourceOption {
	return func(s *Source) { s.claimInterval = d }
}

// WithBlock sets how long a Read waits for new entries before it returns
// none (default: a quarter of the claim interval, at most 1s). A Read also
// looks for claimable entries at most that often.
func WithBlock(d time.Duration) SourceOption { return func(s *Source) { s.block = d } }

// WithMaxLine sets the longest accepted "task" field in bytes (the
// max_line key; default taskproto.DefaultMaxLine).
func WithMaxLine(n int) SourceOption { return func(s *Source) { s.maxLine = n } }

// ConsumerName returns a consumer name unique to this host and process:
// "HOSTNAME-PID-RANDOM" (8 hex digits, since hosts in containers often
// share a PID and may reuse a hostname after a restart).
func ConsumerName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return h + "-" + strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
}

// NewSource returns a Source of c's stream and group (c.URL().Stream and
// .Group; the group must not be empty). It starts the refresh goroutine,
// which Close stops; it does no I/O: the group is created (XGROUP CREATE
// … 0 MKSTREAM: a new group starts at the beginning of the stream, so the
// tasks added before the first host started are run) by the first Read.
func NewSource(c *Client, opts ...SourceOption) (*Source, error) {
	u := c.URL()
	if u.Group == "" {
		return nil, fmt.Errorf("redis source %s: no consumer group (add &group=NAME)", u)
	}
	s := &Source{
		c: c, stream: u.Stream, group: u.Group,
		claimInterval: 30 * time.Second,
		maxLine:       taskproto.DefaultMaxLine,
		cursor:        "0-0",
		held:          make(map[string]*Entry),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.consumer == "" {
		s.consumer = ConsumerName()
	}
	if s.claimInterval <= 0 {
		return nil, fmt.Errorf("redis source: claim interval %v, want > 0", s.claimInterval)
	}
	if s.block <= 0 {
		s.block = min(s.claimInterval/4, time.Second)
	}
	if s.block < time.Millisecond {
		s.block = time.Millisecond // BLOCK 0 would wait forever
	}
	if s.maxLine <= 0 {
		s.maxLine = taskproto.DefaultMaxLine
	}
	go s.refreshLoop()
	return s, nil
}

// Consumer returns the consumer name.
func (s *Source) Consumer() string { return s.consumer }

// Stream returns the stream's key.
func (s *Source) Stream() string { return s.stream }

// Group returns the consumer group.
func (s *Source) Group() string { return s.group }

// ensureGroup creates the group (and the stream) when missing.
func (s *Source) ensureGroup(ctx context.Context) error {
	err := s.c.rdb.XGroupCreateMkStream(ctx, s.stream, s.group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return err
	}
	return nil
}

// Read returns up to n entries (n >= 1: the caller's free worker slots plus
// queue_limit, minus what it holds, so that the source never reads ahead
// more than that): first entries claimed with XAUTOCLAIM from consumers
// that left them pending longer than the claim interval (looked for at
// most once per block time), then new entries read with XREADGROUP. When
// none is there it waits up to the block time (default 1s) and may return
// no entry and a nil error; it returns within about the block time after
// ctx ends, with ctx's error.
//
// Redis errors that pass (the server is down or restarting) are retried
// with backoff, the outage reported once (see Client); a group that
// vanished (a restarted server without persistence, a deleted stream) is
// created again. Any other error is returned.
func (s *Source) Read(ctx context.Context, n int) ([]*Entry, error) {
	if n < 1 {
		return nil, fmt.Errorf("redis source: read %d entries, want >= 1", n)
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	var out []*Entry
	err := s.c.do(ctx, "read "+s.stream, func(ctx context.Context) error {
		err := s.readOnce(ctx, n, &out)
		if redis.HasErrorPrefix(err, "NOGROUP") {
			// the group vanished (a restarted server without persistence,
			// a deleted stream): create it again and read once more
			s.grouped = false
			err = s.readOnce(ctx, n, &out)
		}
		return err
	})
	out = s.hold(out)
	if len(out) > 0 {
		return out, nil // what was claimed or read is returned; an error shows again on the next Read
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, err
}

// readOnce creates the group when needed, claims, then reads, appending
// to out until it holds n entries.
func (s *Source) readOnce(ctx context.Context, n int, out *[]*Entry) error {
	if !s.grouped {
		if err := s.ensureGroup(ctx); err != nil {
			return err
		}
		s.grouped = true
	}
	if s.suspect {
		if err := s.handBackOrphans(ctx, *out); err != nil {
			return err
		}
		s.suspect = false
		s.cursor, s.lastClaim = "0-0", time.Time{} // claim them now
	}
	if len(*out) < n && time.Since(s.lastClaim) >= s.block {
		claimed, err := s.claim(ctx, n-len(*out))
		if err != nil {
			return err
		}
		*out = append(*out, claimed...)
	}
	if len(*out) >= n {
		return nil
	}
	block := s.block
	if len(*out) > 0 {
		block = -1 // do not wait when there is work already
	}
	res, err := s.c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: s.group, Consumer: s.consumer,
		Streams: []string{s.stream, ">"},
		Count:   int64(n - len(*out)), Block: block,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		// The server may have delivered entries whose reply was lost (a
		// broken connection, a restart): the next read hands them back.
		s.suspect = true
	}
	if errors.Is(err, redis.Nil) || (err != nil && len(*out) > 0) {
		return nil // with claimed entries in hand, deliver them; the error shows on the next Read
	}
	if err != nil {
		return err
	}
	for _, st := range res {
		for _, m := range st.Messages {
			*out = append(*out, s.entry(m, 1))
		}
	}
	return nil
}

// claim takes up to n entries idle longer than the claim interval from any
// consumer, and reads their delivery counts.
func (s *Source) claim(ctx context.Context, n int) ([]*Entry, error) {
	msgs, next, err := s.c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: s.stream, Group: s.group, Consumer: s.consumer,
		MinIdle: s.claimInterval, Start: s.cursor, Count: int64(n),
	}).Result()
	if err != nil {
		return nil, err
	}
	s.cursor = next
	if next == "0-0" {
		s.lastClaim = time.Now() // a full scan done: wait before the next
		// consumers of past processes with nothing left pending go; one
		// that is alive is created again by its next XREADGROUP
		if err := dropConsumersScript.Run(ctx, s.c.rdb, []string{s.stream},
			s.group, s.consumer, s.claimInterval.Milliseconds()).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	pipe := s.c.rdb.Pipeline()
	counts := make([]*redis.XPendingExtCmd, len(msgs))
	for i, m := range msgs {
		counts[i] = pipe.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: s.stream, Group: s.group, Start: m.ID, End: m.ID, Count: 1, Consumer: s.consumer,
		})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]*Entry, 0, len(msgs))
	for i, m := range msgs {
		attempt := 1
		if p := counts[i].Val(); len(p) == 1 {
			attempt = int(p[0].RetryCount)
		}
		out = append(out, s.entry(m, attempt))
	}
	return out, nil
}

// handBackOrphans hands back the entries pending on this consumer that it
// does not hold (nor has in hand, read by the Read under way): entries an
// XREADGROUP delivered whose reply never arrived (the connection broke,
// the server restarted). Their delivery count counts a delivery that never
// reached a worker, so it is lowered by one, and the next XAUTOCLAIM of any
// consumer takes them at once as the same attempt, instead of after the
// claim interval as one more attempt (which max_attempts 1 would end
// "lost"). Entries handed back already (idle for half a year or more) are
// left as they are.
func (s *Source) handBackOrphans(ctx context.Context, inHand []*Entry) error {
	s.backMu.Lock()
	defer s.backMu.Unlock()
	pending, err := s.c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: s.stream, Group: s.group, Start: "-", End: "+", Count: 10000, Consumer: s.consumer,
	}).Result()
	if err != nil {
		return err
	}
	hand := make(map[string]bool, len(inHand))
	for _, e := range inHand {
		hand[e.ID] = true
	}
	var ids []string
	var counts []int
	s.mu.Lock()
	for _, p := range pending {
		if _, held := s.held[p.ID]; held || hand[p.ID] || p.Idle >= handBackIdle/2 {
			continue
		}
		ids = append(ids, p.ID)
		counts = append(counts, max(int(p.RetryCount)-1, 0))
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	_, err = s.touch(ctx, handBackIdle, ids, counts)
	return err
}

// entry parses a stream message into an Entry.
func (s *Source) entry(m redis.XMessage, attempt int) *Entry {
	e := &Entry{ID: m.ID, Attempt: attempt, src: s}
	invalid := func(err error) *Entry {
		e.Task = taskproto.Task{ID: m.ID, Payload: []byte("null")}
		e.Err = &EntryError{EntryID: m.ID, Err: err}
		return e
	}
	v, ok := m.Values[TaskField]
	if !ok {
		return invalid(fmt.Errorf("has no %q field", TaskField))
	}
	str, ok := v.(string)
	if !ok {
		return invalid(fmt.Errorf("has a %q field that is not a string", TaskField))
	}
	if len(str) > s.maxLine {
		return invalid(fmt.Errorf("has a %q field of %d bytes, longer than max_line (%d bytes)", TaskField, len(str), s.maxLine))
	}
	t, err := taskproto.ParseEntry([]byte(str), m.ID)
	if err != nil {
		var le *taskproto.LineError
		if errors.As(err, &le) {
			invalid(le.Err)
			e.Task.ID = le.ID
			return e
		}
		return invalid(err)
	}
	e.Task = t
	return e
}

// hold records entries as held and returns them, less any this source
// held already: an entry of its own that it claimed back because a refresh
// came late is being run here and must not run twice.
func (s *Source) hold(es []*Entry) []*Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := es[:0]
	for _, e := range es {
		if _, ok := s.held[e.ID]; ok {
			continue
		}
		s.held[e.ID] = e
		out = append(out, e)
	}
	return out
}

// release forgets an entry; it reports whether it was held.
func (s *Source) release(e *Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[e.ID]
	delete(s.held, e.ID)
	return ok
}

// Held returns how many entries the source holds.
func (s *Source) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// touchScript sets the idle time, and optionally the delivery count, of
// entries still pending on this consumer, without claiming an entry
// another consumer took meanwhile (XCLAIM alone would). KEYS[1] stream;
// ARGV group, consumer, idle ms, then pairs of id and delivery count ("" to
// keep it). Returns how many entries were touched.
var touchScript = redis.NewScript(`
local n = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    if ARGV[i+1] == '' then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[3], 'JUSTID')
    else
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[3], 'RETRYCOUNT', ARGV[i+1], 'JUSTID')
    end
    n = n + 1
  end
end
return n
`)

// touch runs touchScript for ids with counts (a count < 0 keeps it).
func (s *Source) touch(ctx context.Context, idle time.Duration, ids []string, counts []int) (int, error) {
	args := make([]any, 0, 3+2*len(ids))
	args = append(args, s.group, s.consumer, idle.Milliseconds())
	for i, id := range ids {
		c := ""
		if counts[i] >= 0 {
			c = strconv.Itoa(counts[i])
		}
		args = append(args, id, c)
	}
	n, err := touchScript.Run(ctx, s.c.rdb, []string{s.stream}, args...).Int()
	return n, err
}

// Started records that attempt number attempt of e starts. For a retry on
// this host (attempt above e.Attempt) the entry's delivery count in Redis
// becomes attempt, so that a host that claims the entry after this one
// died counts on from there (max_attempts holds across hosts). A hand-back
// after Started keeps the count (the attempt ran). It returns ErrNotHeld
// when the entry is no longer pending on this consumer (then the caller
// should drop it), and retries while Redis is down, until ctx ends.
func (s *Source) Started(ctx context.Context, e *Entry, attempt int) error {
	s.mu.Lock()
	_, held := s.held[e.ID]
	e.started = true
	s.mu.Unlock()
	if !held {
		return ErrNotHeld
	}
	if attempt <= e.Attempt {
		return nil
	}
	var n int
	err := s.c.do(ctx, "record attempt", func(ctx context.Context) (err error) {
		n, err = s.touch(ctx, 0, []string{e.ID}, []int{attempt})
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		s.release(e)
		return ErrNotHeld
	}
	e.Attempt = attempt
	return nil
}

// HandBack gives entries back to the group unacknowledged, to be run by
// another consumer: each stays pending on this consumer with an idle time
// of a year, so the next XAUTOCLAIM of any consumer (within its block time,
// 1s by default) takes it at once, whatever its claim interval. An entry no
// attempt of which started gets its delivery count lowered by one first,
// so that the claim (which adds one) gives the next host the same attempt
// number. Entries no longer held are skipped. It retries while Redis is
// down, until ctx ends.
//
// Redis 8.x has XNACK for this; XCLAIM … IDLE … RETRYCOUNT … JUSTID works
// on every Redis since 5.0.
func (s *Source) HandBack(ctx context.Context, es ...*Entry) error {
	s.backMu.Lock()
	defer s.backMu.Unlock()
	var ids []string
	var counts []int
	for _, e := range es {
		if !s.release(e) {
			continue
		}
		ids = append(ids, e.ID)
		c := -1
		if !e.started {
			c = max(e.Attempt-1, 0)
		}
		counts = append(counts, c)
	}
	if len(ids) == 0 {
		return nil
	}
	return s.c.do(ctx, "hand back entries", func(ctx context.Context) error {
		_, err := s.touch(ctx, handBackIdle, ids, counts)
		return err
	})
}

// Ack acknowledges e (XACK) after its result was written elsewhere (a file
// or stdout): at-least-once, since a host that dies between the write and
// the XACK leaves the entry to be claimed and run again, with a second
// result line. It reports whether the entry was still pending (false: it
// had been acknowledged already, by another host that claimed it). It
// retries while Redis is down, until ctx ends.
func (s *Source) Ack(ctx context.Context, e *Entry) (bool, error) {
	var n int64
	err := s.c.do(ctx, "acknowledge "+e.ID, func(ctx context.Context) (err error) {
		n, err = s.c.rdb.XAck(ctx, s.stream, s.group, e.ID).Result()
		return err
	})
	if err == nil {
		s.release(e)
	}
	return n == 1, err
}

// Lag returns the group's lag (XINFO GROUPS: entries added to the stream
// and not yet delivered to the group), for qrun.tasks.queued. ok is false
// when Redis does not give it (before Redis 7.0, or after deletions in the
// stream made it unknown). One attempt, no retry.
func (s *Source) Lag(ctx context.Context) (lag int64, ok bool, err error) {
	groups, err := s.c.rdb.XInfoGroups(ctx, s.stream).Result()
	if err != nil {
		return 0, false, fmt.Errorf("read the lag of %s: %w", s.stream, err)
	}
	for _, g := range groups {
		if g.Name == s.group {
			return g.Lag, g.Lag >= 0, nil
		}
	}
	return 0, false, nil
}

// refreshLoop resets the idle time of held entries every third of the
// claim interval until Close.
func (s *Source) refreshLoop() {
	defer close(s.done)
	t := time.NewTicker(s.claimInterval / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.refresh()
		}
	}
}

// refresh touches every held entry once (no retry: the next tick does).
func (s *Source) refresh() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.held))
	counts := make([]int, 0, len(s.held))
	for id := range s.held {
		ids = append(ids, id)
		counts = append(counts, -1)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.claimInterval/3)
	defer cancel()
	if _, err := s.touch(ctx, 0, ids, counts); err != nil && transient(err) {
		s.c.fail(err)
	}
}

// dropConsumersScript deletes from group ARGV[1] the consumers with no
// pending entry that are ARGV[2] (this consumer, at Close) or idle for at
// least ARGV[3] ms (0: none but ARGV[2]): checked and done in one step,
// since XGROUP DELCONSUMER drops the pending entries of the consumer it
// deletes. Returns how many it deleted.
var dropConsumersScript = redis.NewScript(`
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i+1] end
  local minIdle = tonumber(ARGV[3])
  if f['pending'] == 0 and (f['name'] == ARGV[2] or (minIdle > 0 and f['idle'] >= minIdle)) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
`)

// Close stops the refresh, hands back every entry still held (the
// launcher calls it after the last result is written: what is left never
// started, or its result could not be written) and deletes this consumer
// from the group when nothing is pending on it, so that consumer names of
// past processes do not pile up. It is idempotent; the Client stays open.
func (s *Source) Close(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	es := make([]*Entry, 0, len(s.held))
	for _, e := range s.held {
		es = append(es, e)
	}
	s.mu.Unlock()
	err := s.HandBack(ctx, es...)
	if err == nil && len(es) == 0 {
		err = dropConsumersScript.Run(ctx, s.c.rdb, []string{s.stream}, s.group, s.consumer, 0).Err()
		if redis.HasErrorPrefix(err, "NOGROUP") || errors.Is(err, redis.Nil) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("close redis source: %w", err)
	}
	return nil
}
