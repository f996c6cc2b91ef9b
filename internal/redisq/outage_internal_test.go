package redisq

import (
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
)

// One outage is one report: a reply to an operation that started before
// Redis went down (sent as it went down) does not end the outage, so the
// failures that follow are no second report. TestRedisRestart saw two
// reports 11 ms apart (EOF, then connection refused) now and then.
func TestOutageReportedOnceDespiteALateReply(t *testing.T) {
	var logged strings.Builder
	c := &Client{log: slog.New(slog.NewTextHandler(&logged, nil))}
	reported := func() int { return strings.Count(logged.String(), "redis unreachable") }
	before := c.outage() // an operation in flight
	c.fail(io.EOF)       // another one sees Redis go down
	c.up(before)         // the first one's reply arrives
	c.fail(syscall.ECONNREFUSED)
	if reported() != 1 || c.Outages() != 1 {
		t.Errorf("%d reports, %d outages; want 1 and 1:\n%s", reported(), c.Outages(), logged.String())
	}
	c.up(c.outage()) // an operation started during the outage succeeds
	c.fail(syscall.ECONNREFUSED)
	if reported() != 2 {
		t.Errorf("%d reports after Redis came back and went again, want 2:\n%s", reported(), logged.String())
	}
}
