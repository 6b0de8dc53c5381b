#!/usr/bin/env bash
# run.sh NAME COMMAND...: runs an end-to-end `go test` command, its output both shown and kept in
# $TMPDIR/novabsd-e2e-logs/NAME.log; when it fails, the failing tests and their first failure lines are printed
# again at the end, where CI's excerpt of a long run can show them (they are otherwise far above, among the
# service logs of the failed tests).
set -uo pipefail
name=$1
shift
dir=${TMPDIR:-/tmp}/novabsd-e2e-logs
mkdir -p "$dir"
log=$dir/$name.log
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo "== $name failed (exit $rc); whole output in $log; the failures:"
	grep -E '^\s*(--- FAIL|[[:alnum:]_]+_test\.go:[0-9]+: )' "$log" | grep -v 'novabsd log\|shared novabsd host' | cut -c1-300 | head -80
fi
exit "$rc"
