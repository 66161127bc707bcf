#!/bin/bash
# Quick start, part 2: build libgoheap and run the whole test suite: the TAP
# tests; the same tests with the world stopped for marking (GOHEAP_GC=stw)
# and under Valgrind; once more with the heap checker on
# (GOHEAP_DEBUG=check=1); once built with ASan+UBSan (in build-asan), once
# with ThreadSanitizer (in build-tsan); once cross-built for arm64 (in
# build-arm64) and run under qemu-user; and the fuzz targets briefly.  Ends
# with "N passed, N failed" summed from the Automake test harness's own
# counts.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# passed, failed, count LOG and totals.
. "$top/scripts/tally.sh"
bash "$top/scripts/build.sh" || { failed=1; totals; exit 1; }
cd "$top/build"

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
# Every collection with the world stopped, as GOHEAP_GC=stw asks.
run "make check-stw" check-stw
run "make check-valgrind" check-valgrind
# The heap checker at every collection of every test.
export GOHEAP_DEBUG=check=1
run "make check with GOHEAP_DEBUG=check=1" check
unset GOHEAP_DEBUG

# The suite in a sanitizer build of its own: sanitized NAME DIR FLAGS...
# configures DIR (once) with FLAGS and runs make check there.
sanitized() {
	local name=$1 sub=$2
	local dir=$top/$sub
	shift 2
	echo "== $name build ($sub)"
	mkdir -p "$dir"
	cd "$dir"
	if { [ -f Makefile ] && [ Makefile -nt ../configure ]; } ||
		../configure -q --enable-werror "$@"; then
		rm -f test-suite.log
		run "make check ($name)" check
	else
		echo "FAIL: configure $*"
		failed=$((failed + 1))
	fi
	cd "$top/build"
}
# AddressSanitizer and UndefinedBehaviorSanitizer, LeakSanitizer included:
# a sanitizer build of the library does not load libunwind (lib/mprof.c),
# whose thread-exit destructor crashed its check at exit.
sanitized ASan+UBSan build-asan --enable-asan --enable-ubsan
# ThreadSanitizer (GCC's libtsan); goheap(7) says which TSAN_OPTIONS the
# Makefile sets for it and why.
bash "$top/scripts/deps.sh" libtsan2
sanitized TSan build-tsan --enable-tsan

# arm64: cross-built and run under qemu-user, which the kernel starts for
# every aarch64 program (binfmt_misc: the tests run their own program
# again, and goheap-stat against a child).  make check-qemu leaves out the
# tests qemu-user cannot run (Makefile.am says which and why).
bash "$top/scripts/deps.sh" crossbuild-essential-arm64 qemu-user qemu-user-binfmt
binfmt_aarch64() {
	local d=/proc/sys/fs/binfmt_misc
	[ -e "$d/register" ] || mount -t binfmt_misc binfmt_misc "$d" || return 1
	[ -e "$d/qemu-aarch64" ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$d/register" || return 1
	grep -q '^enabled' "$d/qemu-aarch64" || echo 1 >"$d/qemu-aarch64"
}
echo "== arm64 build (build-arm64), under qemu-user"
mkdir -p "$top/build-arm64"
cd "$top/build-arm64"
if ! binfmt_aarch64; then
	echo "FAIL: arm64: the kernel cannot be made to run aarch64 programs (binfmt_misc)"
	failed=$((failed + 1))
elif { [ -f Makefile ] && [ Makefile -nt ../configure ]; } ||
	../configure -q --host=aarch64-linux-gnu --enable-werror; then
	rm -f test-suite.log
	run "make check-qemu (arm64)" check-qemu
else
	echo "FAIL: configure --host=aarch64-linux-gnu"
	failed=$((failed + 1))
fi
cd "$top/build"

# The readers of stats files and heap dumps under libFuzzer, briefly: one
# test per target that builds and runs without a crash.
echo "== fuzz (FUZZ_TIME=${FUZZ_TIME:=20}s per target)"
bash "$top/scripts/deps.sh" clang libclang-rt-14-dev
for t in statfile heapdump api; do
	if FUZZ_TIME=$FUZZ_TIME FUZZ_ONLY=$t sh "$top/fuzz/run.sh" >"fuzz-$t.log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS: fuzz_$t ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz-$t.log" | grep -o '[0-9]*$') inputs)"
	else
		failed=$((failed + 1))
		echo "FAIL: fuzz_$t"
		tail -30 "fuzz-$t.log"
	fi
done
totals
