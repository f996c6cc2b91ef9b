package envconfig

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
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
	durationForms = "a number of seconds (60, 0.5) or a Go duration (1m30s)"
	inSeconds     = "in seconds (60, 0.5) or as a Go duration (1m30s)"
)

// specs returns the keys in the order of the design's table. It builds a
// new table each time so that no package state is shared.
func specs() []spec {
	return []spec{
		stringSpec(newKey("name", "default",
			"cluster name: QRUN_CLUSTER of the workers, messaging.destination.name of task spans", "cluster_name"),
			"string", "a non-empty string", true, func(c *Config) *string { return &c.Name }),
		intSpec(newKey("workers", "1", "worker processes to run (>= 1)"),
			"count", 1, func(c *Config) *int { return &c.Workers }),
		restartSpec(),
		intSpec(newKey("max_restarts", "5",
			"restarts of one slot in a row after failures before min_uptime, then give up (>= 0)"),
			"count", 0, func(c *Config) *int { return &c.MaxRestarts }),
		durationSpec(newKey("min_uptime", "10s",
			"a worker up this long resets its restart backoff, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.MinUptime }),
		signalSpec(),
		durationSpec(newKey("stop_grace", "10s",
			"time between stop_signal and SIGKILL of a worker's process group, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.StopGrace }),
		timeoutSpec(),
		durationSpec(newKey("start_timeout", "0s",
			"task mode: time a persistent worker may take to announce readiness ({\"ready\":true} on QRUN_RESULT_FD) or reply, "+inSeconds+"; 0 for no bound"),
			false, func(c *Config) *time.Duration { return &c.StartTimeout }),
		intSpec(newKey("recycle", "0",
			"task mode: replace a persistent worker after this many tasks (0 = off)"),
			"count", 0, func(c *Config) *int { return &c.Recycle }),
		intSpec(newKey("max_rss", "0",
			"replace a worker whose process group's resident memory exceeds this many KiB (0 = off)"),
			"KiB", 0, func(c *Config) *int64 { return &c.MaxRSS }),
		intSpec(newKey("cpu_affinity", "0",
			"pin each worker to this many CPUs, assigned round-robin (0 = off)"),
			"count", 0, func(c *Config) *int { return &c.CPUAffinity }),
		durationSpec(newKey("guard_cycle", "500ms",
			"time between supervision checks (> 0), "+inSeconds),
			true, func(c *Config) *time.Duration { return &c.GuardCycle }),
		stringSpec(newKey("tasks", "",
			"task mode input: - for stdin, or a file or FIFO path (empty = no task mode)"),
			"path", "a string: - for stdin, or a path", false, func(c *Config) *string { return &c.Tasks }),
		boolSpec(newKey("per_task", "false",
			"task mode: start a fresh process per task instead of feeding persistent workers"),
			func(c *Config) *bool { return &c.PerTask }),
		stringSpec(newKey("results", "-",
			"task mode result stream: - for stdout, or a file path"),
			"path", "- for stdout, or a path", true, func(c *Config) *string { return &c.Results }),
		intSpec(newKey("max_attempts", "1",
			"task mode: attempts per task, retrying on error, timeout and lost (0 = no limit, as in django-q2)"),
			"count", 0, func(c *Config) *int { return &c.MaxAttempts }),
		intSpec(newKey(keyQueueLimit, "workers²",
			"task mode: tasks read ahead before reading input pauses (>= 1)"),
			"count", 1, func(c *Config) *int { return &c.QueueLimit }),
		intSpec(newKey("max_line", "1048576",
			"task mode: longest accepted task line in bytes (>= 1)"),
			"bytes", 1, func(c *Config) *int { return &c.MaxLine }),
		durationSpec(newKey("shutdown_timeout", "3s",
			"upper bound on flushing the launcher's telemetry at exit, "+inSeconds),
			false, func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		subreaperSpec(),
		instrumentSpec(),
		stringSpec(newKey("javaagent", "",
			"path of the OpenTelemetry Java agent jar for --instrument java, appended to JAVA_TOOL_OPTIONS as -javaagent:PATH"),
			"path", "a string: the path of a jar", false, func(c *Config) *string { return &c.JavaAgent }),
	}
}

func stringSpec(k Key, typ, accepts string, nonEmpty bool, field func(*Config) *string) spec {
	return spec{
		Key: k, typ: typ, accepts: accepts,
		decode: func(c *Config, raw any) bool {
			s, ok := toString(raw)
			if ok {
				*field(c) = s
			}
			return ok
		},
		valid: func(c *Config) bool { return !nonEmpty || *field(c) != "" },
		show:  func(c *Config) string { return *field(c) },
	}
}

func intSpec[T int | int64](k Key, typ string, minimum T, field func(*Config) *T) spec {
	return spec{
		Key: k, typ: typ, accepts: fmt.Sprintf("an integer >= %d", minimum),
		decode: func(c *Config, raw any) bool {
			n, ok := toInt64(raw)
			if !ok || int64(T(n)) != n {
				return false
			}
			*field(c) = T(n)
			return true
		},
		valid: func(c *Config) bool { return *field(c) >= minimum },
		show:  func(c *Config) string { return strconv.FormatInt(int64(*field(c)), 10) },
	}
}

func durationSpec(k Key, positive bool, field func(*Config) *time.Duration) spec {
	accepts := "a duration >= 0: " + durationForms
	if positive {
		accepts = "a duration > 0: " + durationForms
	}
	return spec{
		Key: k, typ: "duration", accepts: accepts,
		decode: func(c *Config, raw any) bool {
			d, ok := toDuration(raw)
			if ok {
				*field(c) = d
			}
			return ok
		},
		valid: func(c *Config) bool { return *field(c) > 0 || (!positive && *field(c) == 0) },
		show:  func(c *Config) string { return field(c).String() },
	}
}

// timeoutSpec is a duration spec that also accepts none and shows 0 so.
func timeoutSpec() spec {
	timeout := durationSpec(newKey("timeout", "none",
		"task mode: stop a task running longer than this, "+inSeconds+"; none or 0 for no timeout"),
		false, func(c *Config) *time.Duration { return &c.Timeout })
	timeout.accepts = "none or a duration >= 0: " + durationForms
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
		Key: newKey("restart", "never",
			"when to restart a worker that exited: never, on-failure or always"),
		typ: "policy", accepts: "one of never, on-failure, always",
		decode: func(c *Config, raw any) bool {
			s, ok := raw.(string)
			if ok {
				c.Restart = RestartPolicy(s)
			}
			return ok
		},
		valid: func(c *Config) bool {
			switch c.Restart {
			case RestartNever, RestartOnFailure, RestartAlways:
				return true
			}
			return false
		},
		show: func(c *Config) string { return string(c.Restart) },
	}
}

func signalSpec() spec {
	return spec{
		Key: newKey("stop_signal", "TERM",
			"signal sent to each worker's process group to stop it: a name (TERM, SIGINT) or a number"),
		typ: "signal", accepts: "a signal name (TERM, SIGTERM) or number (15)",
		decode: func(c *Config, raw any) bool {
			s, ok := toString(raw)
			if !ok {
				return false
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
			return err == nil
		},
		show: func(c *Config) string { return SignalName(c.StopSignal) },
	}
}

func subreaperSpec() spec {
	return spec{
		Key: newKey("subreaper", "auto",
			"become child subreaper: auto (when running as PID 1), true or false"),
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

// instruments lists the values of the instrument key, as help shows them.
var instruments = []Instrument{InstrumentAuto, InstrumentPython, InstrumentNode, InstrumentJava, InstrumentNone}

func instrumentSpec() spec {
	names := make([]string, len(instruments))
	for i, in := range instruments {
		names[i] = string(in)
	}
	return spec{
		Key: newKey("instrument", "none",
			"zero-code bootstrap of each worker's own SDK: auto (from the executable's name), python, node, java or none"),
		typ: "language", accepts: "one of " + strings.Join(names, ", "),
		decode: func(c *Config, raw any) bool {
			s, ok := raw.(string)
			if ok {
				c.Instrument = Instrument(s)
			}
			return ok
		},
		valid: func(c *Config) bool { return slices.Contains(instruments, c.Instrument) },
		show:  func(c *Config) string { return string(c.Instrument) },
	}
}
