#!/usr/bin/env bash
# run-boehm.sh - time a GC-heavy Boehm collector program, Debian's w3m,
# unmodified, on Debian's libgc1 and on libgoheap's libgc.so.1
# (goheap-run), in alternating runs, and print a table of medians.
#
#   bench/run-boehm.sh [OUTDIR]
#
# The work: w3m -dump -cols 120 of a generated page (tests/boehm-page.awk,
# BENCH_SECTIONS sections, default 1200: 7.5 MB of nested tables, lists
# and links), whose layout allocates and drops some 10^7 small objects.
# Each run's outputs must be identical.  Measured with /usr/bin/time:
# wall time, CPU time (user + system) and peak resident set size.  All
# run with their default pacing (no GOHEAP_GOGC: libgoheap follows Boehm's
# rule, goheap-gc(3)).  A third variant runs libgoheap with one marker
# (GOHEAP_GCPROCS=1), to show what parallel marking costs or saves.
#
# Environment:
#   GOHEAP_BUILD    libgoheap build tree (default: this tree's build/)
#   BENCH_RUNS      runs of each variant (default 5); medians are printed
#   BENCH_SECTIONS  size of the page (default 1200)
#   BENCH_GOGC      if set, GOHEAP_GOGC for the libgoheap runs
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/run-boehm.XXXXXX")}
build=${GOHEAP_BUILD:-$top/build}
runs=${BENCH_RUNS:-5}
sections=${BENCH_SECTIONS:-1200}
mkdir -p "$out/home"
export HOME=$out/home

for p in w3m libgc1 time; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || {
		echo "run-boehm: installing $p" >&2
		apt-get install -y -qq "$p" >/dev/null
	}
done
[ -x "$build/tools/goheap-run" ] || bash "$top/scripts/build.sh"
export GOHEAP_RUN_LIBDIR=$build/lib/.libs

awk -v SECTIONS="$sections" -f "$top/tests/boehm-page.awk" >"$out/page.html"
: >"$out/results.tsv"
one() { # one VARIANT RUN
	local v=$1 i=$2 env=()
	case $v in
	libgoheap) env=(env ${BENCH_GOGC:+GOHEAP_GOGC=$BENCH_GOGC} "$build/tools/goheap-run") ;;
	libgoheap-1marker) env=(env ${BENCH_GOGC:+GOHEAP_GOGC=$BENCH_GOGC} GOHEAP_GCPROCS=1 \
		"$build/tools/goheap-run") ;;
	esac
	/usr/bin/time -f '%e %U %S %M' -o "$out/time" \
		"${env[@]}" w3m -dump -cols 120 "$out/page.html" >"$out/$v.out"
	read -r wall user sys rss <"$out/time"
	printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$i" "$wall" \
		"$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" \
		>>"$out/results.tsv"
}
for i in $(seq "$runs"); do
	# Rotate which goes first, so none always runs on a warmer cache.
	case $((i % 3)) in
	1) order="libgc1 libgoheap libgoheap-1marker" ;;
	2) order="libgoheap libgoheap-1marker libgc1" ;;
	0) order="libgoheap-1marker libgc1 libgoheap" ;;
	esac
	for v in $order; do one "$v" "$i"; done
	for v in libgoheap libgoheap-1marker; do
		cmp -s "$out/libgc1.out" "$out/$v.out" || {
			echo "run-boehm: outputs differ ($v, run $i)" >&2
			exit 1
		}
	done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v v="$1" -v c="$2" '$1 == v { print $c }' "$out/results.tsv" | median; }
echo "w3m -dump of a $(($(wc -c <"$out/page.html") / 1024)) KiB page ($(wc -l <"$out/libgc1.out") lines out), medians of $runs alternating runs:"
echo
echo "| libgc.so.1 | wall s | CPU s | peak RSS MiB |"
echo "|---|---:|---:|---:|"
for v in libgc1 libgoheap libgoheap-1marker; do
	printf '| %s | %.2f | %.2f | %.1f |\n' "$v" "$(col "$v" 3)" "$(col "$v" 4)" \
		"$(awk -v k="$(col "$v" 5)" 'BEGIN { print k / 1024 }')"
done
echo
echo "(each run: $out/results.tsv)"
