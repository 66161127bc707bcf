#!/bin/sh
# run.sh - build the fuzz targets with libFuzzer and run each for a bounded
# time ("make fuzz"; CI): the stats file and heap dump readers, and
# sequences of API calls (fuzz_api, built with the library's sources).
#
#   FUZZ_TIME  seconds per target (default 30)
#   FUZZ_OUT   where to build and keep new inputs (default: a temporary
#              directory, removed afterwards)
#   CLANG      the compiler (default clang)
#   FUZZ_ONLY  the targets to run (default: statfile heapdump api)
#
# The committed seeds in fuzz/corpus/<target>/ were made from real files:
# a stats file of tests/stat-child and heap dumps it wrote, whole and cut
# short; for api, short programs of calls (fuzz/fuzz_api.c says how its
# input is read).  They are read, never written: new inputs go to FUZZ_OUT.  Exits
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
# goheap.h includes <goheap/version.h>, which configure writes; no target
# needs the real release.
mkdir -p "$out/goheap"
echo '#define GOHEAP_VERSION 0' >"$out/goheap/version.h"
# The library under fuzz_api: no stats file, no monitor thread.
GOHEAP_STATS=0
export GOHEAP_STATS
for t in ${FUZZ_ONLY:-statfile heapdump api}; do
	echo "== fuzz_$t: building"
	if [ "$t" = api ]; then
		src="-DGOHEAP_BUILDING -I$top/include -pthread"
		# The OS layer's files for this system and CPU only.
		for f in "$top"/lib/*.c; do
			case $f in */*_darwin.c | */arch_*.c) ;; *) src="$src $f" ;; esac
		done
		src="$src $top/lib/arch_$(uname -m)_linux.c -ldl"
	else
		src="$top/tools/statread.c $top/lib/os_ipc_linux.c"
	fi
	# shellcheck disable=SC2086 # $src is a list of words
	"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -I"$out" -I"$top/lib" -I"$top/include" \
		"$here/fuzz_$t.c" $src -o "$out/fuzz_$t"
	mkdir -p "$out/corpus_$t"
	echo "== fuzz_$t: running for ${time}s"
	# API programs: short ones are enough, and each collection is slow.
	maxlen=
	[ "$t" = api ] && maxlen=-max_len=512
	"$out/fuzz_$t" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 $maxlen \
		-print_final_stats=1 -artifact_prefix="$out/crash-$t-" \
		"$out/corpus_$t" "$here/corpus/$t"
done
echo "== fuzz: no crashes"
