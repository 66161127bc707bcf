#!/bin/sh
# Run one test with a time limit, for make check (LOG_COMPILER).  A test
# still running after GOHEAP_TEST_TIMEOUT seconds (default 900) gets a TAP
# "Bail out!" line, every thread's backtrace on stderr (into the test's
# .log) when gdb is installed, and is killed with its children.  A hung
# test then fails alone, with the evidence, instead of holding up the run.
limit=${GOHEAP_TEST_TIMEOUT:-900}
for name; do :; done # the test is the last argument
name=${name##*/}

# The process and all its descendants, parents first.
tree() {
	echo "$1"
	for c in $(pgrep -P "$1"); do
		tree "$c"
	done
}

"$@" &
pid=$!
(
	trap 'kill $s 2>/dev/null; exit 0' TERM
	i=0
	while [ "$i" -lt "$limit" ]; do
		sleep 1 </dev/null >/dev/null 2>&1 &
		s=$!
		wait $s
		i=$((i + 1))
	done
	echo "Bail out! $name still running after $limit s; killed"
	procs=$(tree $pid)
	if command -v gdb >/dev/null 2>&1; then
		for p in $procs; do
			echo "watchdog: backtraces of process $p ($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null))" >&2
			timeout 60 gdb -p "$p" -batch -ex 'thread apply all bt' </dev/null 2>&1 |
				grep -v '^\[New LWP\|^\[Thread debugging\|^Using host' >&2
		done
	fi
	kill -KILL $procs 2>/dev/null
) &
watch=$!
wait $pid
rc=$?
kill $watch 2>/dev/null
wait $watch 2>/dev/null
exit $rc
