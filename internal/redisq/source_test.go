package redisq

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otel-qrun/otel-qrun/internal/redistest"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

func TestSourceCreatesGroupAndReadsEarlierEntries(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	// entries added before any host started are run: the group starts at 0
	add(t, c.Redis(), stream, `{"id":"early","payload":1,"carrier":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}`)
	s := newSource(t, c)
	es := readN(t, s, 1)
	e := es[0]
	if e.Err != nil || e.Task.ID != "early" || e.Attempt != 1 || string(e.Task.Payload) != "1" ||
		e.Task.Carrier["traceparent"] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("entry %+v", e)
	}
	groups, err := c.Redis().XInfoGroups(testCtx(t), stream).Result()
	if err != nil || len(groups) != 1 || groups[0].Name != "g" {
		t.Fatalf("groups %+v, %v", groups, err)
	}
	// a raw line gets the entry id as its task id
	ids := add(t, c.Redis(), stream, "hello")
	e = readN(t, s, 1)[0]
	if e.Err != nil || e.Task.ID != ids[0] || string(e.Task.Payload) != `"hello"` {
		t.Fatalf("raw entry %+v", e)
	}
	if !strings.HasPrefix(s.Consumer(), "") || strings.Count(s.Consumer(), "-") < 2 {
		t.Errorf("consumer name %q, want host-pid-random", s.Consumer())
	}
}

func TestSourceReadLimitAndLag(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	s := newSource(t, c)
	ctx := testCtx(t)
	if es, err := s.Read(ctx, 1); err != nil || len(es) != 0 {
		t.Fatalf("Read of an empty stream = %v, %v", es, err)
	}
	add(t, c.Redis(), stream, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
	es, err := s.Read(ctx, 3)
	if err != nil || len(es) != 3 {
		t.Fatalf("Read(3) = %d entries, %v", len(es), err)
	}
	if p := pending(t, c.Redis(), stream, "g"); len(p) != 3 {
		t.Fatalf("%d pending after Read(3), want 3", len(p))
	}
	if lag, ok, err := s.Lag(ctx); err != nil || !ok || lag != 7 {
		t.Fatalf("Lag = %d, %v, %v; want 7", lag, ok, err)
	}
	es, err = s.Read(ctx, 2)
	if err != nil || len(es) != 2 || s.Held() != 5 {
		t.Fatalf("Read(2) = %d entries, %v; held %d", len(es), err, s.Held())
	}
	if lag, ok, _ := s.Lag(ctx); !ok || lag != 5 {
		t.Fatalf("Lag = %d, want 5", lag)
	}
	if _, err := s.Read(ctx, 0); err == nil {
		t.Fatal("Read(0) gave no error")
	}
}

func TestSourceBadEntriesAreInvalidAndAcknowledged(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	s := newSource(t, c)
	sink := NewSink(c, streamName(t, "results"))
	ctx := testCtx(t)
	rdb := c.Redis()
	mustAdd := func(vals ...any) string {
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	noTask := mustAdd("payload", "x")
	broken := mustAdd(TaskField, `{"id":"b1","payload":`)
	huge := mustAdd(TaskField, `{"id":"big","payload":"`+strings.Repeat("x", 10<<20)+`"}`)
	numID := mustAdd(TaskField, `{"id":"n","timeout":-1}`)
	good := mustAdd(TaskField, `{"id":"ok"}`)
	want := map[string]struct{ taskID, reason string }{
		noTask: {noTask, `has no "task" field`},
		broken: {broken, "starts with { but is not valid JSON"},
		huge:   {huge, "longer than max_line (1048576 bytes)"},
		numID:  {"n", `negative "timeout"`},
	}
	es := readN(t, s, 5)
	for _, e := range es {
		if e.ID == good {
			if e.Err != nil || e.Task.ID != "ok" {
				t.Errorf("good entry %+v", e)
			}
		} else {
			w := want[e.ID]
			var ee *EntryError
			if !errors.Is(e.Err, taskproto.ErrInvalidTask) || !errors.As(e.Err, &ee) || !strings.Contains(e.Err.Error(), w.reason) ||
				!strings.HasPrefix(e.Err.Error(), "entry "+e.ID+" ") || e.Task.ID != w.taskID {
				t.Errorf("entry %s: task id %q, err %v; want id %q and %q", e.ID, e.Task.ID, e.Err, w.taskID, w.reason)
			}
		}
		line := `{"id":"` + e.Task.ID + `","status":"invalid"}` + "\n"
		if _, written, err := sink.Put(ctx, []byte(line), e); err != nil || !written {
			t.Fatalf("Put(%s) = %v, %v", e.ID, written, err)
		}
	}
	if p := pending(t, rdb, stream, "g"); len(p) != 0 {
		t.Fatalf("%d entries still pending: %v", len(p), p)
	}
	if n, _ := rdb.XLen(ctx, sink.Stream()).Result(); n != 5 {
		t.Fatalf("%d results, want 5", n)
	}
	if s.Held() != 0 {
		t.Fatalf("source still holds %d entries", s.Held())
	}
}

// TestClaimFromDeadConsumerCountsAttempts: entries left by a consumer that
// died are claimed after the claim interval, with the delivery count as
// attempt number, across three consumers.
func TestClaimFromDeadConsumerCountsAttempts(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	ids := add(t, c.Redis(), stream, `{"id":"a"}`, `{"id":"b"}`)
	const claim = 200 * time.Millisecond

	first := newSource(t, c, WithConsumer("host1"), WithClaimInterval(claim))
	es := readN(t, first, 2)
	for _, e := range es {
		if e.Attempt != 1 {
			t.Fatalf("first read: attempt %d", e.Attempt)
		}
		if err := first.Started(testCtx(t), e, 1); err != nil {
			t.Fatal(err)
		}
	}
	first.abandon() // SIGKILL: no refresh, no hand-back

	second := newSource(t, c, WithConsumer("host2"), WithClaimInterval(claim))
	es = readN(t, second, 2)
	byID := map[string]*Entry{}
	for _, e := range es {
		byID[e.ID] = e
		if e.Attempt != 2 {
			t.Fatalf("claimed by host2: %s attempt %d, want 2", e.ID, e.Attempt)
		}
	}
	// host2 retries "a" locally (attempt 3), then dies too
	if err := second.Started(testCtx(t), byID[ids[0]], 2); err != nil {
		t.Fatal(err)
	}
	if err := second.Started(testCtx(t), byID[ids[0]], 3); err != nil {
		t.Fatal(err)
	}
	if p := pending(t, c.Redis(), stream, "g"); p[ids[0]].RetryCount != 3 || p[ids[0]].Consumer != "host2" {
		t.Fatalf("after a local retry: pending %+v", p[ids[0]])
	}
	second.abandon()

	third := newSource(t, c, WithConsumer("host3"), WithClaimInterval(claim))
	es = readN(t, third, 2)
	if _, err := third.Read(testCtx(t), 1); err != nil { // one more full scan
		t.Fatal(err)
	}
	if names := consumers(t, c.Redis(), stream, "g"); names["host1"] || names["host2"] || !names["host3"] {
		t.Errorf("consumers %v, want the dead ones with nothing pending gone", names)
	}
	got := map[string]int{}
	for _, e := range es {
		got[e.ID] = e.Attempt
	}
	if got[ids[0]] != 4 || got[ids[1]] != 3 {
		t.Fatalf("claimed by host3: attempts %v, want %s:4 %s:3", got, ids[0], ids[1])
	}
	// with max_attempts 3 the first is lost, the second gets its last attempt
	for _, e := range es {
		if want := e.ID == ids[0]; e.Exhausted(3) != want || e.Exhausted(0) {
			t.Errorf("%s (attempt %d): Exhausted(3) = %v", e.ID, e.Attempt, e.Exhausted(3))
		}
	}
	// the first host comes back from the dead: its entries are no longer its
	back := &Entry{ID: ids[1], Attempt: 1, src: first}
	if got := first.hold([]*Entry{back}); len(got) != 1 {
		t.Fatal("hold dropped a new entry")
	}
	if got := first.hold([]*Entry{{ID: ids[1]}}); len(got) != 0 {
		t.Fatal("hold kept an entry held already")
	}
	if err := first.Started(testCtx(t), back, 2); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Started on an entry claimed away = %v, want ErrNotHeld", err)
	}
	if p := pending(t, c.Redis(), stream, "g")[ids[1]]; p.Consumer != "host3" || p.RetryCount != 3 {
		t.Fatalf("the late host's Started changed the entry: %+v", p)
	}
}

// TestRefreshKeepsLongTasks: a live consumer resets the idle time of the
// entries it holds, so they are not claimed however long they run. The
// entry is aged by an hour by hand, and the refresh loop (every third of
// the claim interval) must bring it back.
func TestRefreshKeepsLongTasks(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	rdb := c.Redis()
	ctx := testCtx(t)
	ids := add(t, rdb, stream, "long")
	live := newSource(t, c, WithConsumer("live"), WithClaimInterval(300*time.Millisecond))
	readN(t, live, 1)
	if err := rdb.Do(ctx, "XCLAIM", stream, "g", "live", 0, ids[0], "IDLE", time.Hour.Milliseconds(), "JUSTID").Err(); err != nil {
		t.Fatal(err)
	}
	for pending(t, rdb, stream, "g")[ids[0]].Idle >= time.Hour {
		select {
		case <-ctx.Done():
			t.Fatal("the live consumer never refreshed its entry")
		case <-time.After(10 * time.Millisecond): // polling Redis's state, not a timing assumption
		}
	}
	p := pending(t, rdb, stream, "g")[ids[0]]
	if p.Consumer != "live" || p.RetryCount != 1 {
		t.Fatalf("after a refresh: %+v, want still live's, delivery count 1", p)
	}
}

func TestHandBackIsClaimableAtOnce(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	ids := add(t, c.Redis(), stream, "1", "2", "3")
	stopping := newSource(t, c, WithConsumer("stopping"), WithClaimInterval(time.Hour))
	es := readN(t, stopping, 3)
	// the third ran one attempt (its result could not be written): its count stays
	var started *Entry
	for _, e := range es {
		if e.ID == ids[2] {
			started = e
		}
	}
	if err := stopping.Started(testCtx(t), started, 1); err != nil {
		t.Fatal(err)
	}
	if err := stopping.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// a claim interval of an hour: only a hand-back makes them claimable now
	other := newSource(t, c, WithConsumer("other"), WithClaimInterval(time.Hour))
	got := map[string]int{}
	for _, e := range readN(t, other, 3) {
		got[e.ID] = e.Attempt
	}
	if got[ids[0]] != 1 || got[ids[1]] != 1 || got[ids[2]] != 2 {
		t.Fatalf("attempts after hand-back %v, want 1, 1, 2", got)
	}
	// a consumer with nothing pending at Close leaves the group
	for _, e := range es {
		if _, err := other.Ack(testCtx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if names := consumers(t, c.Redis(), stream, "g"); names["other"] {
		t.Fatalf("consumer other left nothing pending but is still in the group: %v", names)
	}
}

// consumers returns the names of the group's consumers.
func consumers(t *testing.T, rdb *redis.Client, stream, group string) map[string]bool {
	t.Helper()
	cs, err := rdb.XInfoConsumers(testCtx(t), stream, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, x := range cs {
		m[x.Name] = true
	}
	return m
}

// TestSinkAcknowledgesIffResult: a result appended means the entry is
// acknowledged, an XADD refused means it stays pending, and an entry run
// by two hosts gets one result.
func TestSinkAcknowledgesIffResult(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	results := streamName(t, "results")
	c := dial(t, srv, stream, "g")
	rc := dial(t, srv, results, "") // another client of the same server
	ctx := testCtx(t)
	rdb := c.Redis()
	ids := add(t, rdb, stream, "1", "2")
	s := newSource(t, c, WithConsumer("h1"), WithClaimInterval(100*time.Millisecond))
	es := readN(t, s, 2)

	// results key of the wrong type: the XADD fails, nothing is acknowledged
	if err := rdb.Set(ctx, results, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewSink(rc, results).Put(ctx, []byte(`{"id":"1"}`), es[0]); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Put to a string key = %v, want WRONGTYPE", err)
	}
	if p := pending(t, rdb, stream, "g"); len(p) != 2 {
		t.Fatalf("after a failed Put %d pending, want 2 (no ack without result)", len(p))
	}
	rdb.Del(ctx, results)

	// host h1 is slow: h2 claims the entries and finishes first
	s.abandon()
	s2 := newSource(t, c, WithConsumer("h2"), WithClaimInterval(100*time.Millisecond))
	es2 := readN(t, s2, 2)
	sink := NewSink(rc, results)
	for _, e := range es2 {
		if _, written, err := sink.Put(ctx, []byte(`{"id":"`+e.ID+`","by":"h2"}`+"\n"), e); err != nil || !written {
			t.Fatalf("h2 Put = %v, %v", written, err)
		}
	}
	for _, e := range es {
		if _, written, err := sink.Put(ctx, []byte(`{"by":"h1"}`), e); err != nil || written {
			t.Fatalf("late h1 Put = %v, %v; want not written", written, err)
		}
	}
	msgs, err := rdb.XRange(ctx, results, "-", "+").Result()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("results %v, %v; want 2", msgs, err)
	}
	for i, m := range msgs {
		if m.Values[ResultField] != `{"id":"`+ids[i]+`","by":"h2"}` {
			t.Errorf("result %d = %v", i, m.Values)
		}
	}
	if p := pending(t, rdb, stream, "g"); len(p) != 0 {
		t.Fatalf("%d still pending", len(p))
	}
	// results from a file source: a plain XADD
	if _, written, err := sink.Put(ctx, []byte(`{"id":"file"}`), nil); err != nil || !written {
		t.Fatalf("Put without entry = %v, %v", written, err)
	}
	// results to a file: the line is written by the caller, then Ack
	add(t, rdb, stream, "3")
	e := readN(t, s2, 1)[0]
	if acked, err := s2.Ack(ctx, e); err != nil || !acked {
		t.Fatalf("Ack = %v, %v", acked, err)
	}
	if acked, err := s2.Ack(ctx, e); err != nil || acked {
		t.Fatalf("second Ack = %v, %v; want false", acked, err)
	}
}

// TestReconnectAfterRestart: with AOF on, Redis restarts in the middle of
// a run; the source and sink retry with backoff, report the outage once,
// and no entry is lost or gets two results.
func TestReconnectAfterRestart(t *testing.T) {
	srv, err := redistest.Start(redistest.Options{AOF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	stream, results := "tasks", "results"
	logs := newLogRecorder()
	c := dial(t, srv, stream, "g", WithLogger(slog.New(logs)), WithBackoff(20*time.Millisecond, 500*time.Millisecond))
	s := newSource(t, c)
	resultsSink := NewSink(c, results)
	ctx := testCtx(t)
	const n = 20
	var tasks []string
	for i := range n {
		tasks = append(tasks, `{"id":"t`+strconv.Itoa(i)+`"}`)
	}
	add(t, c.Redis(), stream, tasks...)
	done := 0
	process := func(k int) {
		for range k {
			e := readN(t, s, 1)[0]
			if _, w, err := resultsSink.Put(ctx, []byte(`{"id":"`+e.Task.ID+`"}`), e); err != nil || !w {
				t.Fatalf("Put = %v, %v", w, err)
			}
			done++
		}
	}
	process(n / 2)
	held := readN(t, s, 1)[0] // read before the outage, finished after it
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	var during []*Entry
	go func() {
		es, err := s.Read(ctx, 1)
		during = es
		readErr <- err
	}()
	logs.waitFor(t, "redis unreachable")
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil || len(during) != 1 {
		t.Fatalf("Read across the outage = %d entries, %v", len(during), err)
	}
	for _, e := range append(during, held) {
		if _, w, err := resultsSink.Put(ctx, []byte(`{"id":"`+e.Task.ID+`"}`), e); err != nil || !w {
			t.Fatalf("Put after the restart = %v, %v", w, err)
		}
		done++
	}
	process(n - done)
	if got := logs.count("redis unreachable"); got != 1 {
		t.Errorf("%d outage reports, want 1", got)
	}
	if got := logs.count("redis reachable again"); got != 1 {
		t.Errorf("%d recovery reports, want 1", got)
	}
	msgs, err := c.Redis().XRange(ctx, results, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.Values[ResultField].(string)]++
	}
	for i := range n {
		if line := `{"id":"t` + strconv.Itoa(i) + `"}`; seen[line] != 1 {
			t.Errorf("task t%d has %d results", i, seen[line])
		}
	}
	if p := pending(t, c.Redis(), stream, "g"); len(p) != 0 {
		t.Errorf("%d still pending", len(p))
	}
}

// TestOwnEntryClaimedBackIsNotReturnedTwice: when a refresh comes late and
// a source's XAUTOCLAIM takes back an entry it is running, Read does not
// return that entry a second time.
func TestOwnEntryClaimedBackIsNotReturnedTwice(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	rdb := c.Redis()
	ctx := testCtx(t)
	ids := add(t, rdb, stream, "running")
	s := newSource(t, c, WithConsumer("slow"), WithClaimInterval(time.Hour), WithBlock(20*time.Millisecond))
	readN(t, s, 1)
	// the refresh is late: the entry looks abandoned
	if err := rdb.Do(ctx, "XCLAIM", stream, "g", "slow", 0, ids[0], "IDLE", (2 * time.Hour).Milliseconds(), "JUSTID").Err(); err != nil {
		t.Fatal(err)
	}
	for pending(t, rdb, stream, "g")[ids[0]].RetryCount < 2 { // until a Read claimed it back
		es, err := s.Read(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 0 {
			t.Fatalf("Read returned %s again while it is held", es[0].ID)
		}
	}
	if s.Held() != 1 {
		t.Fatalf("held %d, want 1", s.Held())
	}
}

// TestSourceHandsBackEntriesOfALostRead: an XREADGROUP whose reply never
// arrived (the connection broke after the server delivered) leaves
// entries pending on the consumer that the source never saw. After a read
// failed, the next Read hands them back and claims them as the same
// attempt, instead of leaving them to be claimed after the claim interval
// as a second delivery (which max_attempts 1 would end "lost").
func TestSourceHandsBackEntriesOfALostRead(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	c := dial(t, srv, stream, "g")
	s := newSource(t, c, WithClaimInterval(time.Hour))
	ctx := testCtx(t)
	if es, err := s.Read(ctx, 1); err != nil || len(es) != 0 { // creates the group
		t.Fatalf("Read = %v, %v", es, err)
	}
	ids := add(t, c.Redis(), stream, "lost-in-transit")
	// the server delivers it to this consumer; the reply goes nowhere
	if err := c.Redis().XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: "g", Consumer: s.Consumer(), Streams: []string{stream, ">"}, Count: 1, Block: -1,
	}).Err(); err != nil {
		t.Fatal(err)
	}
	s.readMu.Lock()
	s.suspect = true // what a failed XREADGROUP records
	s.readMu.Unlock()
	es := readN(t, s, 1)
	if e := es[0]; e.ID != ids[0] || e.Attempt != 1 || e.Exhausted(1) {
		t.Fatalf("entry %s attempt %d, want %s as attempt 1", e.ID, e.Attempt, ids[0])
	}
	if p := pending(t, c.Redis(), stream, "g")[ids[0]]; p.RetryCount != 1 || p.Consumer != s.Consumer() {
		t.Fatalf("pending %+v", p)
	}
}

// TestSinkPutBatch: a batch acknowledges and appends each line as Put
// does: an entry acknowledged already (by a host that claimed it) gets no
// second result, a line without an entry is a plain append, and a key of
// the wrong type stops the batch at that line with nothing acknowledged.
func TestSinkPutBatch(t *testing.T) {
	srv := redistest.Shared(t)
	stream := streamName(t, "tasks")
	results := streamName(t, "results")
	c := dial(t, srv, stream, "g")
	ctx := testCtx(t)
	rdb := c.Redis()
	add(t, rdb, stream, "1", "2", "3")
	s := newSource(t, c, WithClaimInterval(time.Hour))
	es := readN(t, s, 3)
	if err := rdb.XAck(ctx, stream, "g", es[1].ID).Err(); err != nil { // taken and finished elsewhere
		t.Fatal(err)
	}
	sink := NewSink(c, results)
	lines := [][]byte{[]byte("r0\n"), []byte("r1\n"), []byte("r2\n"), []byte("plain\n")}
	if done, err := sink.PutBatch(ctx, lines, []*Entry{es[0], es[1], es[2], nil}); err != nil || done != 4 {
		t.Fatalf("PutBatch = %d, %v", done, err)
	}
	msgs, err := rdb.XRange(ctx, results, "-", "+").Result()
	if err != nil || len(msgs) != 3 || msgs[0].Values[ResultField] != "r0" || msgs[1].Values[ResultField] != "r2" || msgs[2].Values[ResultField] != "plain" {
		t.Fatalf("results %v, %v", msgs, err)
	}
	if p := pending(t, rdb, stream, "g"); len(p) != 0 || s.Held() != 0 {
		t.Fatalf("%d pending, %d held after the batch", len(p), s.Held())
	}

	ids := add(t, rdb, stream, "4")
	e := readN(t, s, 1)[0]
	bad := streamName(t, "bad")
	if err := rdb.Set(ctx, bad, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if done, err := NewSink(c, bad).PutBatch(ctx, [][]byte{[]byte("r4")}, []*Entry{e}); done != 0 || err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("PutBatch to a string key = %d, %v", done, err)
	}
	if p := pending(t, rdb, stream, "g"); len(p) != 1 || p[ids[0]].ID != ids[0] {
		t.Fatalf("pending %v, want %s (no ack without result)", p, ids[0])
	}
}
