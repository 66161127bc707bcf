#!/bin/bash
# Quick start, part 2: build libgoheap and run the whole test suite: the TAP
# tests, then the same tests under Valgrind.  Ends with "N passed, N failed"
# summed from the Automake test harness's own counts.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
cd "$top/build"

passed=0 failed=0
# Add the counts of the test-suite.log of the run just made.
count() {
	local log=$1 p f
	p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$log" | head -1)
	f=$(awk '/^# (FAIL|XPASS|ERROR):/ { s += $3 } END { print s + 0 }' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}
run() {
	local name=$1
	shift
	echo "== $name"
	if ! make -s -j"$(nproc)" "$@"; then
		[ -f test-suite.log ] && sed -n '/^FAIL\|^ERROR/,$p' test-suite.log | head -100
		[ -f test-suite.log ] || failed=$((failed + 1))
	fi
	[ -f test-suite.log ] && count test-suite.log
	rm -f test-suite.log
}
rm -f test-suite.log
run "make check" check
run "make check-valgrind" check-valgrind
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
