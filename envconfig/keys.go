package envconfig

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/otel-qrun/otel-qrun/qrun"
)

// Key describes one setting: its names in every layer, its default and its
// help text.
type Key struct {
	Name    string   // canonical name, as in Q_CLUSTER and the file: "max_restarts"
	Flag    string   // flag: "--max-restarts"
	Env     string   // environment variable: "Q_CLUSTER_MAX_RESTARTS"
	Default string   // default as Config.Value shows it; "workers²" for queue_limit
	Usage   string   // one line for help and docs, with the accepted values
	Aliases []string // other names accepted in every layer, e.g. "cluster_name"
}

// newKey derives the flag and environment names of a key from its name.
func newKey(name, def, usage string, aliases ...string) Key {
	return Key{
		Name:    name,
		Flag:    flagName(name),
		Env:     envName(name),
		Default: def,
		Usage:   usage,
		Aliases: aliases,
	}
}

func flagName(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }
func envName(key string) string  { return "Q_CLUSTER_" + strings.ToUpper(key) }

// Keys returns every key in the order of the design's table, for help,
// docs, the man page and the output of `otel-qrun config`.
func Keys() []Key {
	ss := specs()
	keys := make([]Key, len(ss))
	for i, s := range ss {
		keys[i] = s.Key
		keys[i].Aliases = slices.Clone(s.Aliases)
	}
	return keys
}

// keyQueueLimit is the key whose default Load computes.
const keyQueueLimit = "queue_limit"

// keyClaimInterval is claim_interval, whose default Load computes from
// timeout and stop_grace (DefaultClaimInterval).
const (
	keyClaimInterval     = "claim_interval"
	claimIntervalDefault = "max(timeout, 30s) + stop_grace"
)

// DefaultClaimInterval is the default of claim_interval: max(timeout, 30s)
// + stop_grace. A host cut off from Redis (it can no longer refresh its
// entries) still ends an attempt within timeout + stop_grace, so an entry
// claimed after that is never run by two hosts at once; without a
// timeout, live hosts keep their entries by refreshing them, and 30s +
// stop_grace is how long a dead host's entries wait.
func DefaultClaimInterval(timeout, stopGrace time.Duration) time.Duration {
	return max(timeout, 30*time.Second) + stopGrace
}

// Bounds that protect the machine from a typo or a hostile value: each is
// far beyond any sensible setting, and each is documented in the key's
// usage and in the README.
const (
	// DefaultMaxWorkers is the default of max_workers, the upper bound of
	// workers.
	DefaultMaxWorkers = 1024
	// MaxWorkersLimit is the largest value max_workers accepts.
	MaxWorkersLimit = 65536
	// MaxQueueLimit bounds queue_limit and its default, workers²
	// (qrun.DefaultQueueLimit).
	MaxQueueLimit = qrun.MaxQueueLimit
	// MaxLineLimit bounds max_line, in bytes (64 MiB).
	MaxLineLimit = 64 << 20
	// MaxPrefetch bounds prefetch, the tasks in flight per persistent
	// worker.
	MaxPrefetch = 1 << 16
	// MaxCPUAffinity bounds cpu_affinity: the CPUs a Linux CPU set holds.
	MaxCPUAffinity = 1024
	// MaxCount bounds the other counts (max_restarts, recycle,
	// max_attempts).
	MaxCount = math.MaxInt32
	// MaxDuration bounds every duration: a year.
	MaxDuration = 365 * 24 * time.Hour
	// MinGuardCycle is the shortest guard_cycle: shorter would be busy
	// polling of /proc.
	MinGuardCycle = 10 * time.Millisecond
)

// spec is a Key with the code that decodes, checks and shows its value.
type spec struct {
	Key
	typ     string                        // flag value type shown in help
	accepts string                        // what is accepted, completing "must be ..."
	decode  func(c *Config, raw any) bool // store raw into c; false if raw is not acceptable
	valid   func(c *Config) bool          // whether the field's value is allowed
	show    func(c *Config) string        // the field formatted for display
}

// is reports whether name is the key's name or one of its aliases.
func (s *spec) is(name string) bool {
	return name == s.Name || slices.Contains(s.Aliases, name)
}

// invalid returns the error for the bad value shown as value, read from
// origin ("" when unknown).
func (s *spec) invalid(value, origin string) error {
	from := ""
	if origin != "" {
		from = " (from " + origin + ")"
	}
	return invalidf("invalid value %q for %s%s: must be %s", value, s.Name, from, s.accepts)
}

// How durations are written, in error messages and in usage.
const (
	maxDurationText = "8760h (a year)"
	durationForms   = "a number of seconds (60, 0.5) or a Go duration (1m30s)"
	inSeconds       = "in seconds (60, 0.5) or as a Go duration (1m30s)"
)

// specs returns the keys in the order of the design's table. It builds a
// new table each time so that no package state is shared.
func specs() []spec {
	return []spec{
		stringSpec(newKey("name", qrun.DefaultCluster,
			"cluster name: QRUN_CLUSTER of the workers, messaging.destination.name of task spans", "cluster_name"),
			"string", "a non-empty string", true, func(c *Config) *string { return &c.Name }),
		workersSpec(),
		intRangeSpec(newKey(keyMaxWorkers, strconv.Itoa(DefaultMaxWorkers),
			fmt.Sprintf("upper bound of workers, a guard against typos (1 to %d)", MaxWorkersLimit)),
			"count", 1, MaxWorkersLimit, func(c *Config) *int { return &c.MaxWorkers }),
		restartSpec(),
		intSpec(newKey("max_restarts", strconv.Itoa(qrun.DefaultMaxRestarts),
			"restarts of one slot in a row after failures before min_uptime, then give up (>= 0)"),
			"count", 0, func(c *Config) *int { return &c.MaxRestarts }),
		durationSpec(newKey("min_uptime", qrun.DefaultMinUptime.String(),
			"a worker up this long resets its restart backoff, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.MinUptime }),
		signalSpec(),
		durationSpec(newKey("stop_grace", qrun.DefaultStopGrace.String(),
			"time between stop_signal and SIGKILL of a worker's process tree, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.StopGrace }),
		timeoutSpec(),
		durationSpec(newKey("start_timeout", "0s",
			"task mode: time a persistent worker may take to announce readiness ({\"ready\":true} on QRUN_RESULT_FD) or reply, "+inSeconds+"; 0 for no bound"),
			false, func(c *Config) *time.Duration { return &c.StartTimeout }),
		intSpec(newKey("recycle", "0",
			"task mode: replace a persistent worker after this many tasks (0 = off)"),
			"count", 0, func(c *Config) *int { return &c.Recycle }),
		intRangeSpec(newKey("max_rss", "0",
			"replace a worker whose process tree's resident memory exceeds this many KiB (0 = off)"),
			"KiB", 0, math.MaxInt64/1024, func(c *Config) *int64 { return &c.MaxRSS }),
		intRangeSpec(newKey("cpu_affinity", "0",
			"pin each worker to this many CPUs, assigned round-robin (0 = off)"),
			"count", 0, MaxCPUAffinity, func(c *Config) *int { return &c.CPUAffinity }),
		durationRangeSpec(newKey("guard_cycle", qrun.DefaultGuardCycle.String(),
			"time between the memory checks of max_rss (>= 10ms; no checks without max_rss), "+inSeconds),
			MinGuardCycle, func(c *Config) *time.Duration { return &c.GuardCycle }),
		stringSpec(newKey("tasks", "",
			"task mode input: - for stdin, a file or FIFO path, or a Redis stream redis://HOST:PORT/DB?stream=NAME&group=GROUP (empty = no task mode)"),
			"path", "a string: - for stdin, a path, or a redis:// URL", false, func(c *Config) *string { return &c.Tasks }),
		boolSpec(newKey("per_task", "false",
			"task mode: start a fresh process per task instead of feeding persistent workers"),
			func(c *Config) *bool { return &c.PerTask }),
		stringSpec(newKey("results", "-",
			"task mode result stream: - for stdout, a file path, or a Redis stream redis://HOST:PORT/DB?stream=NAME"),
			"path", "- for stdout, a path, or a redis:// URL", true, func(c *Config) *string { return &c.Results }),
		intSpec(newKey("max_attempts", strconv.Itoa(qrun.DefaultMaxAttempts),
			"task mode: attempts per task, retrying on error, timeout and lost (0 = no limit, as in django-q2)"),
			"count", 0, func(c *Config) *int { return &c.MaxAttempts }),
		intRangeSpec(newKey("prefetch", strconv.Itoa(qrun.DefaultPrefetch),
			fmt.Sprintf("task mode: tasks in flight per persistent worker, written ahead of its replies, which come in order (1 to %d)", MaxPrefetch)),
			"count", 1, MaxPrefetch, func(c *Config) *int { return &c.Prefetch }),
		intRangeSpec(newKey(keyQueueLimit, "workers²",
			fmt.Sprintf("task mode: tasks read ahead before reading input pauses (1 to %d; the default is at most that)", MaxQueueLimit)),
			"count", 1, MaxQueueLimit, func(c *Config) *int { return &c.QueueLimit }),
		intRangeSpec(newKey("max_line", strconv.Itoa(qrun.DefaultMaxLine),
			fmt.Sprintf("task mode: longest accepted task line in bytes (1 to %d)", MaxLineLimit)),
			"bytes", 1, MaxLineLimit, func(c *Config) *int { return &c.MaxLine }),
		durationSpec(newKey(keyClaimInterval, claimIntervalDefault,
			"task mode from a Redis stream: an entry pending this long on a host that stopped refreshing it is claimed by another (> 0), "+inSeconds),
			true, func(c *Config) *time.Duration { return &c.ClaimInterval }),
		durationSpec(newKey("shutdown_timeout", qrun.DefaultShutdownTimeout.String(),
			"upper bound on flushing the launcher's telemetry at exit, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		subreaperSpec(),
		instrumentSpec(),
		stringSpec(newKey("javaagent", "",
			"path of the OpenTelemetry Java agent jar for --instrument java, appended to JAVA_TOOL_OPTIONS as -javaagent:PATH"),
			"path", "a string: the path of a jar", false, func(c *Config) *string { return &c.JavaAgent }),
	}
}

// A string value holds no control character (NUL, newline, ...): it ends
// up in worker environments, file names and the lines of `config`, where
// one would cut or forge a line, or fail every worker start.
func stringSpec(k Key, typ, accepts string, nonEmpty bool, field func(*Config) *string) spec {
	return spec{
		Key: k, typ: typ, accepts: accepts + " (no control characters)",
		decode: func(c *Config, raw any) bool {
			s, ok := toString(raw)
			if ok {
				*field(c) = s
			}
			return ok
		},
		valid: func(c *Config) bool {
			s := *field(c)
			return (!nonEmpty || s != "") && !strings.ContainsFunc(s, unicode.IsControl)
		},
		show: func(c *Config) string { return *field(c) },
	}
}

// stopsAProcess reports whether sig can serve as stop_signal: a signal whose
// default action ends the process, so that a worker without a handler of
// its own stops. SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU suspend it, SIGCONT,
// SIGCHLD, SIGWINCH and SIGURG are ignored by default: every stop would
// take stop_grace and end in SIGKILL.
func stopsAProcess(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU,
		syscall.SIGCONT, syscall.SIGCHLD, syscall.SIGWINCH, syscall.SIGURG:
		return false
	}
	return true
}

// intSpec is an integer key from minimum to MaxCount.
func intSpec[T int | int64](k Key, typ string, minimum T, field func(*Config) *T) spec {
	return intRangeSpec(k, typ, minimum, MaxCount, field)
}

// intRangeSpec is an integer key from minimum to maximum. Its value is read
// by parseInteger from every layer.
func intRangeSpec[T int | int64](k Key, typ string, minimum, maximum T, field func(*Config) *T) spec {
	return spec{
		Key: k, typ: typ, accepts: fmt.Sprintf("an integer from %d to %d", minimum, maximum),
		decode: func(c *Config, raw any) bool {
			n, ok := toInt64(raw)
			if !ok || int64(T(n)) != n {
				return false
			}
			*field(c) = T(n)
			return true
		},
		valid: func(c *Config) bool { return *field(c) >= minimum && *field(c) <= maximum },
		show:  func(c *Config) string { return strconv.FormatInt(int64(*field(c)), 10) },
	}
}

// keyMaxWorkers is the key that bounds workers.
const keyMaxWorkers = "max_workers"

// workersSpec is the workers key: from 1 to max_workers.
func workersSpec() spec {
	s := intRangeSpec(newKey("workers", strconv.Itoa(qrun.DefaultWorkers),
		fmt.Sprintf("worker processes to run (1 to max_workers, %d unless raised)", DefaultMaxWorkers)),
		"count", 1, MaxWorkersLimit, func(c *Config) *int { return &c.Workers })
	s.accepts = fmt.Sprintf("an integer from 1 to max_workers (%d unless raised, at most %d)", DefaultMaxWorkers, MaxWorkersLimit)
	inRange := s.valid
	s.valid = func(c *Config) bool { return inRange(c) && c.Workers <= c.MaxWorkers }
	return s
}

// durationSpec is a duration key from 0 (or above 0 when positive) to
// MaxDuration.
func durationSpec(k Key, positive bool, field func(*Config) *time.Duration) spec {
	if positive {
		return durationRangeSpec(k, time.Nanosecond, field)
	}
	return durationRangeSpec(k, 0, field)
}

// durationRangeSpec is a duration key from least to MaxDuration.
func durationRangeSpec(k Key, least time.Duration, field func(*Config) *time.Duration) spec {
	var lower string
	switch least {
	case 0:
		lower = ">= 0"
	case time.Nanosecond:
		lower = "> 0"
	default:
		lower = ">= " + least.String()
	}
	return spec{
		Key: k, typ: "duration", accepts: "a duration " + lower + " and <= " + maxDurationText + ": " + durationForms,
		decode: func(c *Config, raw any) bool {
			d, ok := toDuration(raw)
			if ok {
				*field(c) = d
			}
			return ok
		},
		valid: func(c *Config) bool { return *field(c) >= least && *field(c) <= MaxDuration },
		show:  func(c *Config) string { return field(c).String() },
	}
}

// timeoutSpec is a duration spec that also accepts none and shows 0 so.
func timeoutSpec() spec {
	timeout := durationSpec(newKey("timeout", "none",
		"task mode: stop a task running longer than this, "+inSeconds+"; none or 0 for no timeout"),
		false, func(c *Config) *time.Duration { return &c.Timeout })
	timeout.accepts = "none or a duration >= 0 and <= " + maxDurationText + ": " + durationForms
	decodeDuration := timeout.decode
	timeout.decode = func(c *Config, raw any) bool {
		if raw == "none" {
			c.Timeout = 0
			return true
		}
		return decodeDuration(c, raw)
	}
	timeout.show = func(c *Config) string {
		if c.Timeout == 0 {
			return "none"
		}
		return c.Timeout.String()
	}
	return timeout
}

func boolSpec(k Key, field func(*Config) *bool) spec {
	return spec{
		Key: k, typ: "bool", accepts: "true or false (or 1, 0, yes, no, on, off)",
		decode: func(c *Config, raw any) bool {
			sw, ok := toSwitch(raw)
			if ok && sw != SwitchAuto {
				*field(c) = sw == SwitchOn
				return true
			}
			return false
		},
		valid: func(*Config) bool { return true },
		show:  func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func restartSpec() spec {
	return spec{
		Key: newKey("restart", string(qrun.DefaultRestart),
			"when to restart a worker that exited: never, on-failure or always"),
		typ: "policy", accepts: "one of never, on-failure, always",
		decode: func(c *Config, raw any) bool {
			s, ok := raw.(string)
			if ok {
				c.Restart = qrun.RestartPolicy(s)
			}
			return ok
		},
		valid: func(c *Config) bool { return slices.Contains(qrun.RestartPolicies(), c.Restart) },
		show:  func(c *Config) string { return string(c.Restart) },
	}
}

func signalSpec() spec {
	return spec{
		Key: newKey("stop_signal", SignalName(qrun.DefaultStopSignal),
			"signal sent to every process of each worker's tree to stop it: a name (TERM, SIGINT) or a number"),
		typ: "signal", accepts: "a signal name (TERM, SIGTERM) or number (15) whose default action ends a process (not STOP, TSTP, TTIN, TTOU, CONT, CHLD, WINCH, URG)",
		decode: func(c *Config, raw any) bool {
			s, ok := toString(raw)
			if !ok {
				return false
			}
			if n, ok := parseInteger(s); ok { // 15, or 15.0 as a file gives it
				s = strconv.FormatInt(n, 10)
			}
			sig, err := ParseSignal(s)
			if err != nil {
				return false
			}
			c.StopSignal = sig
			return true
		},
		valid: func(c *Config) bool {
			_, err := ParseSignal(strconv.Itoa(int(c.StopSignal)))
			return err == nil && stopsAProcess(c.StopSignal)
		},
		show: func(c *Config) string { return SignalName(c.StopSignal) },
	}
}

func subreaperSpec() spec {
	return spec{
		Key: newKey("subreaper", "auto",
			"become child subreaper: auto (as PID 1, and where worker trees are followed through /proc), true or false"),
		typ: "mode", accepts: "one of auto, true, false (or 1, 0, yes, no, on, off)",
		decode: func(c *Config, raw any) bool {
			sw, ok := toSwitch(raw)
			if ok {
				c.Subreaper = sw
			}
			return ok
		},
		valid: func(c *Config) bool { return c.Subreaper >= SwitchAuto && c.Subreaper <= SwitchOff },
		show:  func(c *Config) string { return c.Subreaper.String() },
	}
}

func instrumentSpec() spec {
	instruments := qrun.Instruments()
	names := make([]string, len(instruments))
	for i, in := range instruments {
		names[i] = string(in)
	}
	return spec{
		Key: newKey("instrument", string(qrun.DefaultInstrument),
			"zero-code bootstrap of each worker's own SDK: auto (from the executable, its #! line or the interpreter a wrapper script execs), python, node, java or none"),
		typ: "language", accepts: "one of " + strings.Join(names, ", "),
		decode: func(c *Config, raw any) bool {
			s, ok := raw.(string)
			if ok {
				c.Instrument = qrun.Instrument(s)
			}
			return ok
		},
		valid: func(c *Config) bool { return slices.Contains(instruments, c.Instrument) },
		show:  func(c *Config) string { return string(c.Instrument) },
	}
}
