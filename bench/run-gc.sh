#!/usr/bin/env bash
# run-gc.sh - build the collector benchmarks for libgoheap and its peers,
# run them round-robin and print one table per benchmark.
#
#   bench/run-gc.sh OUTDIR
#
# Benchmarks (bench/README.md describes them): GCBench (x1 and x5 in one
# process), binary-trees (1 and 2 threads), allocation rate with collection,
# and allocation latency with a 1 GiB live heap (the pause benchmark).
# Variants: libgoheap (goheap_malloc; goheap_malloc_typed for GCBench; with
# GOHEAP_GC=stw for GCBench, binary-trees and the pause benchmark),
# Boehm GC (libgc), glibc, jemalloc and mimalloc malloc+free, and Go for
# binary-trees.  A peer whose package is missing is skipped with a note.
#
# OUTDIR receives the binaries (bin/), each run's output (logs/), every
# measurement (results.jsonl) and the tables (table.md, also printed).
#
# Environment:
#   GOHEAP_BUILD   libgoheap build tree (lib/.libs/libgoheap.so is linked with
#                  an rpath); default: this source tree's build/, made with
#                  scripts/build.sh if it has no library yet
#   BENCH_RUNS     runs of every cell; the tables give medians (default 3)
#   BENCH_PAUSE_RUNS  runs of each pause configuration (default BENCH_RUNS)
#   BENCH_PAUSE_TIMEOUT  seconds after which a pause run is killed (default
#                  600); a configuration that timed out is not run again
#   BENCH_PAUSE_LIVE, BENCH_PAUSE_FACTOR  live MiB and churn factor of the
#                  pause benchmark (default 1024 and 20; quick: 64 and 10)
#   BENCH_QUICK=1  small sizes and 1 run: a smoke test of a minute or two
#   BENCH_ONLY     comma-separated subset of gcbench,binarytrees,allocrate,pause
#   BENCH_DEPTH    binary-trees depth (default 21; 16 in quick mode)
#   BENCH_NO_INSTALL=1  do not apt-get missing peer packages (libgc-dev,
#                  libjemalloc-dev, libmimalloc-dev, golang-go); skip them
#   CC (gcc), BENCH_CFLAGS (added to -O2)
#
# Exit status: 0 if every run succeeded, 1 on a usage or build error, 3 if
# some run failed or a peer was skipped (the tables are still written).

# shellcheck disable=SC2086
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/.." && pwd)

if [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
	[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && exit 0
	exit 1
fi
out=$1
mkdir -p "$out/bin" "$out/logs" || exit 1
out=$(cd "$out" && pwd)
log() { printf 'run-gc.sh: %s\n' "$*" >&2; }
status=0

# --- 1. Peer packages (Debian) ---------------------------------------------
missing=
if command -v dpkg-query >/dev/null 2>&1; then
	for p in libgc-dev libjemalloc-dev libmimalloc-dev golang-go; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
fi
if [ -n "$missing" ]; then
	if [ "${BENCH_NO_INSTALL:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
		log "not installed:$missing; those peers are skipped"
	else
		sudo=
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		log "installing$missing"
		if ! { $sudo apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
				--no-install-recommends $missing; } >"$out/apt.log" 2>&1; then
			log "apt-get failed (see $out/apt.log); the missing peers are skipped"
		fi
	fi
fi

# --- 2. libgoheap -----------------------------------------------------------
build=${GOHEAP_BUILD:-}
if [ -z "$build" ]; then
	build=$srcdir/build
	if [ ! -e "$build/lib/.libs/libgoheap.so" ]; then
		log "building libgoheap in $build (scripts/build.sh)"
		bash "$srcdir/scripts/build.sh" >"$out/build.log" 2>&1 || {
			log "scripts/build.sh failed:"; tail -n 20 "$out/build.log" >&2; exit 1; }
	fi
fi
build=$(cd "$build" 2>/dev/null && pwd) || { log "no such directory: $GOHEAP_BUILD"; exit 1; }
libdir=$build/lib/.libs
if [ ! -e "$libdir/libgoheap.so" ]; then
	log "$libdir/libgoheap.so does not exist (run make in $build)"
	exit 1
fi
# The header that goes with the library: the build's source tree (and the
# build's include/, where configure writes <goheap/version.h>).
incdir=$srcdir/include
if [ -f "$build/Makefile" ]; then
	s=$(sed -n 's/^abs_top_srcdir = //p' "$build/Makefile")
	[ -n "$s" ] && [ -f "$s/include/goheap.h" ] && incdir=$(cd "$s/include" && pwd)
fi
{
	echo "libgoheap: $libdir/libgoheap.so (header $incdir)"
	s=$(dirname "$incdir")
	if [ -d "$s/.git" ] || [ -f "$s/.git" ]; then
		echo "libgoheap source: $s at $(git -C "$s" rev-parse --short HEAD 2>/dev/null)$(
			[ -z "$(git -C "$s" status --porcelain -- lib include 2>/dev/null)" ] ||
				echo ', with uncommitted changes in lib/ or include/')"
	fi
} >"$out/bin/goheap.txt"

# --- 3. Binaries --------------------------------------------------------------
CC=${CC:-gcc}
cflags="-O2 -pthread -Wall ${BENCH_CFLAGS:-}"
: >"$out/bin/skipped.txt"
: >"$out/bin/versions.txt"
if ! $CC -O2 -Wall -o "$out/bin/rsswrap" "$here/rsswrap.c" >"$out/logs/cc-rsswrap.log" 2>&1; then
	log "cannot build rsswrap:"; cat "$out/logs/cc-rsswrap.log" >&2; exit 1
fi
gh="-I$build/include -I$incdir -L$libdir -lgoheap -Wl,-rpath,$libdir"
# variant|macro|libraries|programs
variants="goheap|-DBV_GOHEAP|$gh|gcbench binarytrees allocrate pause
goheap-typed|-DBV_GOHEAP_TYPED|$gh|gcbench
boehm|-DBV_BOEHM|-lgc|gcbench binarytrees allocrate pause
glibc|-DBV_GLIBC||gcbench binarytrees allocrate
jemalloc|-DBV_JEMALLOC|-ljemalloc|gcbench binarytrees allocrate
mimalloc|-DBV_MIMALLOC|-lmimalloc|gcbench binarytrees allocrate"
while IFS='|' read -r name macro libs progs; do
	for prog in $progs; do
		if ! $CC $cflags $macro -o "$out/bin/$prog-$name" "$here/$prog.c" $libs \
			>"$out/logs/cc-$prog-$name.log" 2>&1; then
			why=$(grep -m1 -E 'error|cannot find' "$out/logs/cc-$prog-$name.log")
			log "cannot build $prog for $name: $why"
			echo "$name $prog: not built (${why:-see logs/cc-$prog-$name.log})" >>"$out/bin/skipped.txt"
			status=3
		fi
	done
done <<EOF
$variants
EOF
# goheap-stw: the goheap binaries with every collection marking with the
# world stopped (GOHEAP_GC=stw), against the default, concurrent marking.
for prog in gcbench binarytrees; do
	if [ -x "$out/bin/$prog-goheap" ]; then
		printf '#!/bin/sh\nGOHEAP_GC=stw exec "%s" "$@"\n' "$out/bin/$prog-goheap" \
			>"$out/bin/$prog-goheap-stw"
		chmod +x "$out/bin/$prog-goheap-stw"
	fi
done
if command -v go >/dev/null 2>&1; then
	if (cd "$out/bin" && GOCACHE=$out/gocache GO111MODULE=off GOPATH=$out/gopath \
		go build -o "$out/bin/binarytrees-go" "$here/binarytrees.go") \
		>"$out/logs/go-build.log" 2>&1; then
		echo "go: $(go version)" >>"$out/bin/versions.txt"
	else
		log "go build failed: $(head -n 3 "$out/logs/go-build.log")"
		echo "go binarytrees: go build failed" >>"$out/bin/skipped.txt"
		status=3
	fi
else
	echo "go binarytrees: no go compiler (Debian: golang-go)" >>"$out/bin/skipped.txt"
	status=3
fi
{
	echo "cc: $($CC --version | head -n 1)"
	for p in libgc1 libjemalloc2 libmimalloc2.0 libc6; do
		v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) && echo "$p: $v"
	done
} >>"$out/bin/versions.txt"

# --- 4. Run -------------------------------------------------------------------
python3 "$here/gcrun.py" "$out"
rc=$?
[ "$rc" -eq 0 ] || status=$rc
exit "$status"
