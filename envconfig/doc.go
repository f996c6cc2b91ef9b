// Package envconfig reads the settings of otel-qrun into one typed,
// validated [Config].
//
// Every setting has one key (see [Keys]). Its value comes from the first of
// these layers that sets it:
//
//  1. a flag --key-with-dashes (registered by [AddFlags]),
//  2. an environment variable Q_CLUSTER_<KEY>, e.g. Q_CLUSTER_WORKERS=4,
//  3. the environment variable Q_CLUSTER holding a JSON object, as used by
//     django-q2, e.g. Q_CLUSTER='{"name":"emails","workers":4}',
//  4. the file named by --config (YAML, JSON or TOML, by extension),
//  5. the default.
//
// Rules shared by the layers:
//   - An environment variable set to the empty string is unset. When the
//     environment slice holds a name twice, the last one wins, as in
//     [os/exec.Cmd.Env].
//   - Q_CLUSTER keys match exactly (lower case, as in django-q2); file keys
//     are matched case-insensitively. In Q_CLUSTER, unknown keys, nested
//     objects and any other JSON the worker application uses are ignored.
//     A JSON or YAML null is unset, so the next layer down applies.
//   - A top-level key of the --config file, or a Q_CLUSTER_<KEY> variable,
//     that names no key nor alias is likely a typo: it is ignored, and
//     Load puts one line in [Config.Warnings] for it, naming the key,
//     where it came from and the closest key within an edit distance of 2
//     (systemd's "Unknown key name"). Values are never in a warning.
//   - The key name has the alias cluster_name, in every layer: the flag
//     --cluster-name, Q_CLUSTER_CLUSTER_NAME, and cluster_name in Q_CLUSTER
//     and in the file. Within one layer, name wins over cluster_name.
//   - Only the value that wins is decoded and validated, so a higher layer
//     can override a bad value of a lower one. Q_CLUSTER must always be a
//     valid JSON object and the --config file must always be readable.
//   - One parser per key reads the value of every layer, as text: a JSON,
//     YAML or TOML number is read from its text (a file's float from its
//     shortest form), so the same value gets the same verdict, and the same
//     error message but for the "(from ...)" part, from every layer:
//     Q_CLUSTER='{"workers":1e18}' fails exactly like --workers 1e18.
//   - The --config file is read only when it is a regular file (a FIFO, a
//     directory or a device is an error, and never blocks) of at most
//     [FileLimit] bytes.
//
// Values:
//   - Durations are a number of seconds (60, 0.5, 1e3) or a Go duration
//     (1m30s), from 0 to [MaxDuration] (a year). Negative durations are
//     invalid. timeout also accepts none, the same as 0. guard_cycle is at
//     least [MinGuardCycle] (10ms): shorter would be busy polling.
//   - Integers are written in decimal, or as a number with an integral value
//     (4, 4.0 and 1e3 are integers, 4.5 is not), in every layer. Each
//     integer key has bounds that protect the machine: workers from 1 to
//     max_workers ([DefaultMaxWorkers] unless raised, at most
//     [MaxWorkersLimit]: a typo or a hostile value cannot start a million
//     processes), queue_limit up to [MaxQueueLimit] (its default workers²
//     too), max_line up to [MaxLineLimit] bytes, cpu_affinity up to
//     [MaxCPUAffinity], max_rss up to what fits in bytes, the other counts
//     up to [MaxCount].
//   - Strings (name, tasks, results, javaagent) also accept a number, as
//     its text.
//   - instrument is one of auto, python, node, java and none, in lower case.
//   - Signals are names with or without SIG, in any case (TERM, sigterm), or
//     numbers (15) of signals the platform knows. 0 is invalid.
//   - Booleans and subreaper accept true/false, 1/0, yes/no and on/off;
//     subreaper also accepts auto. Signal numbers and 1/0 may be written
//     as any integer (15.0, 1.0), as files give numbers.
//
// Every error about a bad setting wraps [ErrInvalid] and names the key, the
// value, where the value came from and what is accepted. The caller maps
// [ErrInvalid] to exit status 2.
//
// This is the only package of otel-qrun that imports viper. Viper reads the
// file and resolves flag > file > default; because viper reads the
// environment only from the process, the two environment layers are resolved
// here from the slice given to [Load] and handed to the same viper instance.
package envconfig
