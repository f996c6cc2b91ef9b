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
//     are matched case-insensitively. Unknown keys, nested objects and any
//     other JSON the worker application uses are ignored. A JSON or YAML
//     null is unset, so the next layer down applies.
//   - The key name has the alias cluster_name, in every layer: the flag
//     --cluster-name, Q_CLUSTER_CLUSTER_NAME, and cluster_name in Q_CLUSTER
//     and in the file. Within one layer, name wins over cluster_name.
//   - Only the value that wins is decoded and validated, so a higher layer
//     can override a bad value of a lower one. Q_CLUSTER must always be a
//     valid JSON object and the --config file must always be readable.
//
// Values:
//   - Durations are a number of seconds (60, 0.5, 1e3; a JSON, YAML or TOML
//     number counts too) or a Go duration (1m30s). Negative durations are
//     invalid. timeout also accepts none, the same as 0.
//   - Integers are written in decimal; a JSON, YAML or TOML number must have
//     an integral value (4 or 4.0, not 4.5).
//   - Strings (name, tasks, results, javaagent) also accept a number, as
//     its text.
//   - instrument is one of auto, python, node, java and none, in lower case.
//   - Signals are names with or without SIG, in any case (TERM, sigterm), or
//     numbers (15) of signals the platform knows. 0 is invalid.
//   - Booleans and subreaper accept true/false, 1/0, yes/no and on/off;
//     subreaper also accepts auto.
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
