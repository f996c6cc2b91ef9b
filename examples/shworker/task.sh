#!/bin/sh
# A per_task otel-qrun worker in POSIX sh: otel-qrun starts one process per
# task. Run it over three tasks (from the repository root):
#
#   printf '%s\n' hello fail '{"payload":{"n":3}}' |
#     otel-qrun --tasks - --per-task --workers 2 -- sh examples/shworker/task.sh
#
# For each task, otel-qrun (docs/protocol.md) gives the process:
#   stdin                the payload: a string payload as raw text ("hello"),
#                        anything else as JSON ('{"n":3}' for the task
#                        line {"payload":{"n":3}})
#   QRUN_TASK_ID         the task's id
#   QRUN_TASK_ATTEMPT    1 for the first attempt, 2 for the first retry, ...
#   TRACEPARENT, TRACESTATE, BAGGAGE
#                        the context of the launcher's CONSUMER span for this
#                        attempt
# and reads the outcome from the exit status: 0 is ok, anything else an
# error (retried up to --max-attempts). stdout and stderr are logs: with the
# results on otel-qrun's stdout, the workers' stdout goes to its stderr.
#
# A payload "fail" makes the task fail.
#
# Tools that read TRACEPARENT continue the trace on their own, e.g. otel-cli:
#   otel-cli exec --name "handle $QRUN_TASK_ID" -- ./do-the-work
# and `otel-qrun carrier --format shell --span NAME` prints a child context
# for later commands.

set -eu

payload=$(cat)

echo "shworker[$$]: task ${QRUN_TASK_ID:-?} attempt ${QRUN_TASK_ATTEMPT:-?} trace ${TRACEPARENT:-none}: $payload" >&2

if [ "$payload" = "fail" ]; then
	echo "shworker[$$]: task ${QRUN_TASK_ID:-?}: the payload asked to fail" >&2
	exit 1
fi

# The work.
bytes=$(printf '%s' "$payload" | wc -c)
echo "shworker[$$]: task ${QRUN_TASK_ID:-?}: handled $((bytes)) bytes"
