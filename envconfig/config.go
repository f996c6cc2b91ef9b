package envconfig

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// ErrInvalid is wrapped by every error about a bad setting: a bad value of
// any key in any layer, a Q_CLUSTER that is not a JSON object, or a --config
// file that cannot be read. Callers map it to exit status 2.
var ErrInvalid = errors.New("invalid configuration")

// invalidError is an error that wraps both ErrInvalid and its cause while
// printing only its own message.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// invalidf formats an error like fmt.Errorf that also wraps ErrInvalid.
func invalidf(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}

// Source says which layer a setting's value came from.
type Source string

// The layers, lowest precedence first.
const (
	SourceDefault  Source = "default"   // the built-in default
	SourceFile     Source = "file"      // the --config file
	SourceQCluster Source = "Q_CLUSTER" // the Q_CLUSTER JSON object
	SourceEnv      Source = "env"       // a Q_CLUSTER_<KEY> variable
	SourceFlag     Source = "flag"      // a command-line flag
)

// Switch is a three-way setting: automatic, on or off.
type Switch int

// The values of a Switch.
const (
	SwitchAuto Switch = iota // decided at run time
	SwitchOn                 // forced on
	SwitchOff                // forced off
)

// String returns "auto", "true" or "false", a form that parses back.
func (s Switch) String() string {
	switch s {
	case SwitchAuto:
		return "auto"
	case SwitchOn:
		return "true"
	case SwitchOff:
		return "false"
	}
	return fmt.Sprintf("switch(%d)", int(s))
}

// Config is the resolved configuration. The meaning of each field is the
// usage of its key in [Keys].
type Config struct {
	Name            string             // key name (alias cluster_name)
	Workers         int                // key workers; at most MaxWorkers
	MaxWorkers      int                // key max_workers: the bound of Workers; Load sets DefaultMaxWorkers when unset
	Restart         qrun.RestartPolicy // key restart
	MaxRestarts     int                // key max_restarts
	MinUptime       time.Duration      // key min_uptime
	StopSignal      syscall.Signal     // key stop_signal
	StopGrace       time.Duration      // key stop_grace
	Timeout         time.Duration      // key timeout; 0 means none
	StartTimeout    time.Duration      // key start_timeout; 0 means no bound
	Recycle         int                // key recycle; 0 means off
	MaxRSS          int64              // key max_rss, in KiB; 0 means off
	CPUAffinity     int                // key cpu_affinity; 0 means off
	GuardCycle      time.Duration      // key guard_cycle
	Tasks           string             // key tasks; "" means no task mode, "-" stdin
	PerTask         bool               // key per_task
	Results         string             // key results; "-" means stdout
	MaxAttempts     int                // key max_attempts
	Prefetch        int                // key prefetch: tasks in flight per persistent worker
	QueueLimit      int                // key queue_limit; defaults to Workers²
	MaxLine         int                // key max_line, in bytes
	ClaimInterval   time.Duration      // key claim_interval; defaults to DefaultClaimInterval
	ShutdownTimeout time.Duration      // key shutdown_timeout
	Subreaper       Switch             // key subreaper
	Instrument      qrun.Instrument    // key instrument
	JavaAgent       string             // key javaagent; "" when none

	ConfigFile string // the --config flag; "" when none
	Verbose    bool   // the --verbose flag

	// Sources maps every canonical key name (never an alias) to the layer
	// its value came from. Load fills it; it may be nil in a Config built
	// by hand.
	Sources map[string]Source

	// Warnings are what Load found suspect but not wrong, one line each
	// without a prefix or a newline: a key of the config file, or a
	// Q_CLUSTER_<KEY> variable, that names no key nor alias, with the
	// closest key when one is within an edit distance of 2, e.g.
	// `config.yaml: unknown key "wrkers" (did you mean "workers"?)`. They
	// name keys, never values. The Q_CLUSTER JSON is not checked: other
	// programs keep their keys there.
	Warnings []string
}

// Validate checks every field against the rules of its key and returns an
// error wrapping ErrInvalid that names each bad key and value.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range specs() {
		if !s.valid(c) {
			errs = append(errs, s.invalid(s.show(c), ""))
		}
	}
	return errors.Join(errs...)
}

// Value returns the value of key (or of an alias) formatted for display, in
// a form that parses back: "10s", "TERM", "on-failure", "none" for a zero
// timeout. It returns "" for an unknown key.
func (c *Config) Value(key string) string {
	for _, s := range specs() {
		if s.is(key) {
			return s.show(c)
		}
	}
	return ""
}
