# shellcheck shell=bash
# tally.sh - sourced, not run, by scripts/test.sh, .ci/run and
# .ci/debian-check.sh: one running count of passed and failed checks, and
# the one line that reports it, "N passed, N failed", which each of those
# scripts ends with.
#
#   passed, failed  the counts; a script may add to them directly
#   count LOG       add the counts of an Automake test-suite.log
#   tally CMD...    run CMD, show its output, and add the counts of the
#                   last "N passed, N failed" line it printed
#   totals          print "N passed, N failed"; true if nothing failed
passed=0 failed=0

# count LOG: PASS results are passed; FAIL, XPASS and ERROR are failed;
# SKIP and XFAIL are neither.  These are the harness's own totals (for TAP
# tests, one per test point).
count() {
	local log=$1 p f
	p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$log" | head -1)
	f=$(awk '/^# (FAIL|XPASS|ERROR):/ { s += $3 } END { print s + 0 }' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

# tally CMD...: a command that printed no such line counts as one failure,
# and so does one that failed (non-zero status) without counting a failure.
tally() {
	local out rc line p f
	out=$(mktemp "${TMPDIR:-/tmp}/tally.XXXXXX") || {
		failed=$((failed + 1))
		return
	}
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	rm -f "$out"
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed*}
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$rc" = 0 ] || [ "$f" != 0 ] || failed=$((failed + 1))
}

totals() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}
