// Package doctest runs the examples of otel-qrun's documentation, so that
// README.md and the man pages cannot drift from the code. It reads the
// examples and their directives (ParseMarkdown, ManExamples), checks every
// otel-qrun command line in them against the command tree without running
// it (Invocations, CheckCommandLines, given the command tree's check by the
// caller), and runs each example in a Sandbox with stand-ins for the
// programs it names (Sandbox.Run, or RunExamples for a whole set). The
// tests that use it are in package cmd (cmd/docs_examples_test.go), which
// owns the command tree and the built binary.
//
// Where examples come from:
//
//   - README.md: every fenced code block. A block whose info string is "sh"
//     is a shell example and runs; "text", "yaml", "json", "toml", "go",
//     "python", "js" and "dockerfile" blocks are not commands and do not run.
//     Any other info string, or none, is an error, so that a new example
//     cannot slip past the test by its language ("bash", "console" or a bare
//     fence).
//   - The man pages, as docgen renders them from the command tree (which
//     TestManPagesFresh keeps equal to man/): every .EX block of every page,
//     that is the cobra Example of every command, docgen.Examples on
//     otel-qrun(1), and the code in cobra's completion pages.
//
// How an example is marked: in README.md, HTML comments on the lines right
// before the fence, one directive each (several may be given):
//
//	<!-- example: norun: REASON -->   not run (installs, Kubernetes, servers...)
//	<!-- example: exit N -->          runs and must exit N instead of 0
//	<!-- example: with-launcher -->   runs while an otel-qrun runs; its pid is in $pid
//	<!-- example: file NAME -->       (on a yaml/json/toml/text block) the block is
//	                                  written to NAME in every example's directory
//
// For docgen.Examples the same directives go in Example.Test. The cobra
// Examples of the commands must all run; the completion pages' code, cobra's
// own instructions for loading completions into a shell, is not run.
//
// How an example runs: with sh -e -x -c, stdin from /dev/null, in a fresh
// directory holding the stand-ins below, the files of "file" directives and
// a link "examples" to the repository's examples/ (so the README's
// "python3 examples/pyworker/worker.py" is the real worker). PATH starts
// with a directory holding:
//
//   - otel-qrun: the binary the caller built (Config.Qrun);
//   - go: a stand-in for "go run ." (the same binary), "go run" and
//     "go build -o OUT" of examples/goworker and examples/goworker-tasks
//     (binaries the caller built from the same source, Config.Built); any
//     other go command fails;
//   - celery, gunicorn, rq, python, node, opentelemetry-instrument and
//     otel-cli: a fake that records its argv and environment and behaves as
//     the simplest worker of the mode otel-qrun started it in (exit 0; reply
//     ok to every task on QRUN_RESULT_FD; read the payload of a per-task
//     process); "opentelemetry-instrument CMD" and "otel-cli exec ... -- CMD"
//     run CMD;
//
// and the directory holds the same fake as ./worker, ./job, ./app, ./shard,
// ./step.sh and ./handle-one.sh. python3 is the real one (the README runs
// examples/pyworker); an example that needs it is skipped where it is
// missing. The launcher's telemetry goes to an OTLP receiver in the test
// (Config.Env: per-signal endpoints, which win over an endpoint an
// example sets),
// Prometheus to a free port. For a with-launcher example, an
// "otel-qrun --workers 2" with sleeping workers runs first; after the
// example it gets SIGTERM and must exit 0, so it must still be running and
// have handled what the example sent it.
//
// An example passes when it exits with the expected status (0 unless
// marked) within ExampleTimeout and, when 0 is expected, otel-qrun printed
// no error on stderr ("otel-qrun: ..." other than warnings and export
// failures, or level=ERROR): a pipeline or a loop can hide a failing
// otel-qrun's status, not its message. Every otel-qrun command line in an
// example, in a norun block and in inline code in README.md is also parsed
// against the command tree: an unknown flag or subcommand, a misspelled
// subcommand, a bad flag value or too many arguments fail the test.
package doctest
