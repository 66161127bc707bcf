#!/bin/sh
# run.sh - build the fuzz targets of the stats file and heap dump readers
# with libFuzzer and run each for a bounded time ("make fuzz"; CI).
#
#   FUZZ_TIME  seconds per target (default 30)
#   FUZZ_OUT   where to build and keep new inputs (default: a temporary
#              directory, removed afterwards)
#   CLANG      the compiler (default clang)
#   FUZZ_ONLY  the targets to run (default: statfile heapdump)
#
# The committed seeds in fuzz/corpus/<target>/ were made from real files:
# a stats file of tests/stat-child and heap dumps it wrote, whole and cut
# short.  They are read, never written: new inputs go to FUZZ_OUT.  Exits
# non-zero if a target fails to build or finds a crash.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
time=${FUZZ_TIME:-30}
cc=${CLANG:-clang}
if [ -n "${FUZZ_OUT:-}" ]; then
	out=$FUZZ_OUT
	mkdir -p "$out"
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/goheap-fuzz.XXXXXX")
	trap 'rm -rf "$out"' EXIT
fi
# statread.c includes config.h first, as every source does; it needs
# nothing from it.
: >"$out/config.h"
for t in ${FUZZ_ONLY:-statfile heapdump}; do
	echo "== fuzz_$t: building"
	"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -I"$out" -I"$top/lib" \
		"$here/fuzz_$t.c" "$top/tools/statread.c" -o "$out/fuzz_$t"
	mkdir -p "$out/corpus_$t"
	echo "== fuzz_$t: running for ${time}s"
	"$out/fuzz_$t" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/crash-$t-" \
		"$out/corpus_$t" "$here/corpus/$t"
done
echo "== fuzz: no crashes"
