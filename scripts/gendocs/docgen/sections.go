package docgen

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// The text of the root page beyond cobra's flag list, in the markdown that
// go-md2man renders. It follows the README (command line, configuration, workers, supervision); the keys come
// from envconfig.Keys so that names, defaults and help cannot drift.

const configurationIntro = `## CONFIGURATION
Every setting has one key. Its value comes from, highest precedence first:

1. a flag **--key-with-dashes**, e.g. **--max-restarts**;
2. an environment variable **Q\_CLUSTER\_\<KEY\>** (the key in upper case), e.g. **Q_CLUSTER_WORKERS=4**;
3. the environment variable **Q_CLUSTER** holding a JSON object, e.g. **Q_CLUSTER='{"name":"emails","workers":4}'**, with the same keys as the Q_CLUSTER dict of django-q2; unknown keys are ignored, never rejected, because the same JSON also configures the worker application;
4. a file given by **--config** _FILE_ (YAML, JSON or TOML, by extension; the same keys);
5. the default.

Durations accept a number of seconds (**60**, **0.5**) or a Go duration (**1m30s**). Integers accept any number with an integral value (**4**, **4.0**, **1e3**). Sizes follow django-q2: **max_rss** is in KiB.
Invalid values (a negative worker count, an unknown restart policy, a Q_CLUSTER that is not valid JSON, an unknown signal name) are errors with exit status 2, never silently replaced by a default. One parser per key reads every source, so a value gets the same verdict and message from each: **Q_CLUSTER='{"workers":1e18}'** fails like **--workers 1e18**.
Bounds protect the machine: **workers** is at most **max_workers** (1024 unless raised, at most 65536), **queue_limit** at most 1048576, **max_line** at most 64 MiB, durations at most 8760h, **guard_cycle** at least 10ms.
**--config** reads only a regular file of at most 1 MiB; a FIFO, a directory or a device is an error with exit status 2.
**otel-qrun config** prints every key with its value and where the value came from.

Keys marked "task mode" apply with **--tasks**; see TASK MODE.

### Keys
`

const environmentSections = `## ENVIRONMENT
otel-qrun reads:

**Q_CLUSTER**, **Q\_CLUSTER\_\<KEY\>**
: Settings; see CONFIGURATION.

**OTEL_SDK_DISABLED**
: With **true** the launcher creates no spans, and an inherited TRACEPARENT, TRACESTATE and BAGGAGE pass through to the workers unchanged.

**OTEL_TRACES_EXPORTER**, **OTEL_METRICS_EXPORTER**
: Exporters of the launcher's own spans and metrics. **console** writes to stderr, never stdout. With **none** spans are still created and their context is still handed to the workers, which may export even when the launcher does not.

**OTEL_QRUN_CONSOLE_FORMAT**
: What the **console** exporters write: **text** (one line per span, a summary of the metrics at exit), **json** (the Go SDK's JSON objects, one a line) or **auto** (the default: text when stderr is a terminal, else json).

**OTEL_PROPAGATORS**
: The propagators that read the inherited trace context and write each worker's carrier.

**OTEL_LOG_LEVEL**
: The level of the launcher's log on stderr (**debug**, **info**, **warn**, **error**); **--verbose** sets **debug**.

**TRACEPARENT**, **TRACESTATE**, **BAGGAGE**
: An inherited trace context: the launcher's spans, and so the workers' traces, continue it.

Every other standard **OTEL\_\*** variable that the OpenTelemetry Go SDK honours (endpoint, headers, protocol, resource, sampler, ...) configures the launcher's own telemetry. When the collector is down, workers run unaffected and the exit is delayed by at most **shutdown_timeout**; export errors are reported once on stderr. When no exporter, endpoint or protocol variable is set at all and nothing listens at the default localhost:4318, one hint line replaces the errors.

Secrets are never printed or exported: **otel-qrun config**, every log line (the launcher's and the OpenTelemetry SDK's), error messages and the attributes of the launcher's spans and resource show **[REDACTED]** for the header values of every **OTEL\_EXPORTER\_OTLP\_[SIGNAL\_]HEADERS** variable, user information in any URL (every **\*_ENDPOINT**, Redis URLs, proxies), values of **name=value** pairs with secret-looking names, and the values of variables whose names contain TOKEN, SECRET, PASSWORD, PASSWD, KEY or CREDENTIAL or start with AUTH, wherever those values show up, also when malformed. **otel-qrun config --show-secrets** prints them in clear.

## WORKER ENVIRONMENT
Every worker is executed fresh (fork and exec, never a bare fork), so it initializes its own OpenTelemetry SDK. It is started with a copy of the launcher's environment (the launcher never changes its own environment to pass anything on), with these changes:

**TRACEPARENT**, **TRACESTATE**, **BAGGAGE**
: The context of the launcher's span for this worker start, written with the propagators of OTEL_PROPAGATORS through the OpenTelemetry environment-carrier rules. Stale values inherited by the launcher are removed first.

**OTEL_RESOURCE_ATTRIBUTES**
: The user's attributes, with **service.instance.id** set to a value unique to this worker process and **qrun.worker.index** added.

**OTEL_EXPORTER_PROMETHEUS_PORT**
: Only when **OTEL_METRICS_EXPORTER=prometheus**: the base port (the launcher's OTEL_EXPORTER_PROMETHEUS_PORT when it is a positive number, else 9464) + 1 + the worker index, so that workers never collide.

**QRUN_CLUSTER**
: The cluster name (key **name**).

**QRUN_WORKER_INDEX**
: **0** to _workers_-1, stable across restarts of that slot.

**QRUN_WORKERS**
: The number of workers.

Other **OTEL\_\*** variables pass through untouched: the worker's own SDK reads them.
**otel-qrun config** prints these changes for each worker.
`

const behaviourSections = `## SUPERVISION
Every worker is the leader of its own process group, and the launcher supervises its whole tree: the worker and every descendant, including those that leave the group (setsid, a double fork). On Linux the tree is followed through a cgroup v2 of its own per worker where the launcher may create one (root, a delegated subtree; **cgroup.kill** kills it), else through /proc, by parent links and the **service.instance.id** every descendant inherits in its environment; elsewhere it is the process group only. **otel-qrun config** shows which. Signals and kills go to every process of the tree; a stop also continues the stopped ones.

On Linux each worker gets **PR_SET_PDEATHSIG=SIGKILL**, and a keeper process (named **otel-qrun-keep**, command line **otel-qrun-keeper**) kills every worker's tree and removes the cgroups when the launcher ends without saying so (killed with SIGKILL); after a normal exit the launcher ends the keeper.

**restart** decides what happens when a worker exits. A worker that exits 0 is done and its slot stays empty (**never**, **on-failure**), so **--workers 4** can run four shards of a batch job. A worker that fails (a non-zero status or a signal) is restarted under **on-failure** and **always** (**always** also restarts after 0), with exponential backoff and jitter. A worker that stays up **min_uptime** resets the backoff. After **max_restarts** restarts in a row that failed before **min_uptime**, the launcher stops everything and exits non-zero with a message that says so. Under **never**, a failing worker makes the launcher stop the others gracefully and exit with the failed worker's status.

With **max_rss**, the resident memory of each worker's whole tree is read from /proc every **guard_cycle**; a worker over the limit is stopped gracefully and replaced. With **cpu_affinity**, each worker is pinned to that many CPUs, assigned round-robin.

As PID 1, where trees are followed through /proc, or with **--subreaper**, the launcher is a child subreaper and reaps every orphaned process.

stdin is inherited by the worker only when **workers** is 1; otherwise workers get /dev/null. When that stdin is a terminal and otel-qrun runs in its foreground, the worker's process group becomes the terminal's foreground group, so the worker can read the terminal and ^C goes to it. stdout and stderr are inherited. stdout belongs to the workers: every message of the launcher itself goes to stderr.

Linux is the primary platform. On macOS the features that need Linux (PR_SET_PDEATHSIG, the subreaper, **max_rss** from /proc and **cpu_affinity**) are skipped with a warning.

## EXIT STATUS
**0**
: Every worker exited 0; or, after a requested graceful stop, every worker ended clean (see below).

**1**
: In task mode, a task read did not end **ok**; or the launcher itself failed (a message on stderr says how).

**2**
: A usage or configuration error: an unknown flag, an invalid value, no COMMAND, a **--tasks** input or **--results** file that cannot be opened. The message on stderr names the bad flag or key and the accepted values.

**126**
: COMMAND cannot be executed.

**127**
: COMMAND is not found (argv is executed exactly: PATH lookup, no shell).

**141**
: In task mode, the reader of the result stream went away (as with **| head -1**): the launcher stopped its workers gracefully, said so once on stderr, and exited 128 + SIGPIPE instead of dying of the signal.

_status_, **128**+_N_
: With one worker, its own exit status, or 128+_N_ when it was killed by signal _N_. With several workers, the status of the first that failed.

In task mode: **0** when every task read ended **ok**, else **1**.

After a requested graceful stop, a worker that exited 0, died of the stop signal or exited 128 + the number of the stop signal counts as clean, and the launcher exits 0 when all were clean. Telemetry errors never change the exit status.

## SIGNALS
**SIGTERM**, **SIGINT**, **SIGQUIT**
: Graceful stop: send **stop_signal** to every process of every worker's tree (SIGCONT to stopped ones), wait **stop_grace**, send SIGKILL to what is left, flush telemetry (for at most **shutdown_timeout**) and exit. A second such signal during the stop kills at once. No worker is restarted during a stop.

**SIGHUP**, **SIGUSR1**, **SIGUSR2**, **SIGWINCH**
: Forwarded to every process of every worker's tree.

**SIGTTIN**, **SIGTTOU**
: Add one worker, remove one worker (never below 1).

The launcher subscribes these signals while its own packages are being initialized, before it reads its command line; one that arrives before the first worker is handled once the run begins. A signal that arrives before the subscription is made (the first millisecond or two after the exec on an idle machine, a few more under load) takes the Go runtime's default action. A command that runs nothing (**config**, **enqueue**, **--help**) gives the signals their default actions back.

In task mode, a stop first stops reading tasks, ends every task that has not started as **cancelled**, and lets the tasks in flight finish within **stop_grace** before the workers are stopped.

## TASK MODE
With **--tasks** _SRC_ (**-** for stdin, a file or a FIFO) every input line is a task. A JSON object line has an **id** (the line number when absent), a **payload**, a **carrier** (e.g. {"traceparent":"00-..."}) and an optional **timeout** in seconds; any other line is a task whose payload is that line as a string. A line that starts with { but is not valid JSON, or is longer than **max_line**, gets the result **invalid**. Blank lines are skipped.

Persistent workers (the default) get one JSON line per task on stdin, {"id": ..., "payload": ..., "carrier": {...}, "attempt": N}, where the carrier holds the context of the task's CONSUMER span, and answer on file descriptor **QRUN_RESULT_FD** (3) with one line {"id": ..., "ok": true|false, "error": "...", "result": ...}. One task is in flight per worker, or up to **prefetch** tasks, answered in order. With **per_task**, every task runs COMMAND in a fresh process with the task span's context in TRACEPARENT, the payload on stdin (a string payload as raw text), and **QRUN_TASK_ID** and **QRUN_TASK_ATTEMPT** set; exit 0 means ok.

For every task read, exactly one JSON object line is written to the result stream (**results**, stdout by default), with the members id, status, attempts, duration_s, trace_id, worker, error and result; the status is **ok**, **error**, **timeout**, **lost** (the worker died during the task, or broke the reply protocol, and no attempt was left), **invalid** or **cancelled** (a stop came before the task started). When results go to stdout, the workers' stdout goes to stderr. Up to **max_attempts** attempts run per task on error, timeout and lost, each its own span; a worker that died or timed out is replaced, and **recycle** replaces one after that many tasks. At most **queue_limit** tasks are read ahead of the workers.
`

// Example is one example of the root page's EXAMPLE section, shown after
// the examples of the root command's help: the sentence that introduces it
// and the code.
//
// Test says how the documentation test in package cmd (docs_examples_test.go)
// treats Code, with the directives a README block takes in an
// "<!-- example: ... -->" comment: empty to run it with sh -e and expect
// exit status 0, "with-launcher" to run it while an otel-qrun whose pid is
// in $pid runs, "exit N" to expect status N, or "norun: REASON" for code
// that is not a shell command that can run in a test. Code that can run
// must: the test fails on an example that no longer works.
type Example struct {
	Text, Code, Test string
}

// Examples returns the examples that follow those of the root command's
// help in the EXAMPLE section of otel-qrun(1).
func Examples() []Example {
	return []Example{
		{Text: "Four workers, each failed one restarted, each one over 512 MiB of memory replaced:",
			Code: `otel-qrun --workers 4 --restart on-failure --max-rss 524288 -- ./worker`},
		{Text: "Four shards of a batch job; the launcher exits 0 when all four succeeded:",
			Code: `otel-qrun --workers 4 -- sh -c 'exec ./shard "$QRUN_WORKER_INDEX" "$QRUN_WORKERS"'`},
		{Text: "Continue the trace of the caller:",
			Code: `TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 otel-qrun -- ./job`},
		{Text: "Prometheus metrics of three workers on ports 9465, 9466 and 9467:",
			Code: `OTEL_METRICS_EXPORTER=prometheus otel-qrun --workers 3 -- ./app`},
		{Text: "Settings from a file, the worker count from the environment:",
			Code: `Q_CLUSTER_WORKERS=8 otel-qrun --config qrun.yaml -- ./worker`},
		{Text: "The resolved configuration and each worker's environment, without starting anything:",
			Code: `otel-qrun config --workers 2 -- ./worker`},
		{Text: "As the PID 1 of a container (a child subreaper that reaps orphans), in a Dockerfile:",
			Code: "ENTRYPOINT [\"otel-qrun\", \"--workers\", \"2\", \"--\"]\nCMD [\"python\", \"worker.py\"]",
			Test: "norun: Dockerfile instructions, not a shell command"},
		{Text: "One more worker, then one fewer, for a running launcher whose pid is in $pid:",
			Code: `kill -TTIN "$pid"; kill -TTOU "$pid"`,
			Test: "with-launcher"},
		{Text: "A traced task runner: a fresh process per input line, four at a time, results on stdout:",
			Code: `seq 100 | otel-qrun --tasks - --per-task --workers 4 -- ./handle-one.sh`},
		{Text: "A producer that continues the caller's trace, and persistent workers that consume its tasks:",
			Code: "otel-qrun enqueue '{\"to\":\"a@b\"}' >> tasks.jsonl\notel-qrun --tasks tasks.jsonl --workers 2 -- python worker.py"},
	}
}

// examplesMarkdown returns the examples as paragraphs and fenced code
// blocks, the code indented like cobra's examples.
func examplesMarkdown() string {
	var b strings.Builder
	for _, e := range Examples() {
		b.WriteString(mdEscape(e.Text) + "\n\n```\n")
		for _, line := range strings.Split(e.Code, "\n") {
			b.WriteString("  " + line + "\n")
		}
		b.WriteString("```\n\n")
	}
	return b.String()
}

// rootSections returns the markdown of the sections inserted into the root
// page between its options and its examples.
func rootSections() string {
	var b strings.Builder
	b.WriteString(configurationIntro)
	for _, k := range envconfig.Keys() {
		writeKey(&b, k)
	}
	b.WriteString("\n")
	b.WriteString(environmentSections)
	b.WriteString("\n")
	b.WriteString(behaviourSections)
	return b.String()
}

// writeKey writes one key as a definition list item: its names in every
// layer, then its help and default.
func writeKey(b *strings.Builder, k envconfig.Key) {
	fmt.Fprintf(b, "\n**%s**, **%s**, **%s**", mdEscape(k.Name), mdEscape(k.Flag), mdEscape(k.Env))
	for _, a := range k.Aliases {
		fmt.Fprintf(b, " (alias **%s**)", mdEscape(a))
	}
	usage := sentence(k.Usage)
	def := "empty"
	if k.Default != "" {
		def = "**" + mdEscape(k.Default) + "**"
	}
	fmt.Fprintf(b, "\n: %s Default: %s.\n", mdEscape(usage), def)
}

// sentence capitalizes s and ends it with a period.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// mdEscape escapes the characters that markdown would take as markup.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
