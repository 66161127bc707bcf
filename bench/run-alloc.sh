#!/usr/bin/env bash
# run-alloc.sh - build bench/alloc_bench.c once per allocator, run them all
# round-robin and print one table of ns per allocation+free pair.
#
#   bench/run-alloc.sh [options] [BUILD_DIR]
#
# BUILD_DIR is a libgoheap build tree (one that has lib/.libs/libgoheap.so);
# the benchmark links against it with an rpath.  Without it the script
# configures and builds the source tree it lives in under
# /tmp/goheap-bench-build (running autoreconf -fi first if the tree has no
# configure script).  See bench/README.md for what is measured.
#
# Options:
#   --installed       use an installed libgoheap (pkg-config goheap)
#   --rev REV         build libgoheap as committed at git revision REV (a
#                     snapshot by git archive, built in the work directory),
#                     not the working tree with whatever edits it has
#   --no-goheap       measure the peers only
#   --seconds S       wall time per cell and run (default 0.3)
#   --repeats N       runs per cell; the table shows the median (default 3)
#   --patterns LIST   comma-separated (default: all; alloc_bench -l lists them)
#   --threads LIST    comma-separated thread counts (default 1,2)
#   --window W        live blocks per thread in window/* (default 1000)
#   --min-oncpu F     a run in which a thread was on a CPU for less than this
#                     fraction of the time, when other processes' CPU use
#                     accounts for it, was disturbed, and is tried again
#                     (default 0.90)
#   --max-tries N     tries per disturbed run (default 4)
#   --budget S        seconds that retries may add to the whole run (default:
#                     a quarter of the time the runs take undisturbed)
#   --no-install      do not apt-get missing jemalloc/mimalloc packages
#   --keep            keep the work directory (binaries, raw results, logs)
#   -h, --help        this text
#
# Environment: CC (default gcc), BENCH_CFLAGS (added to -O2).
#
# Exit status: 0 if every cell of every allocator ran; 1 on a usage or build
# error; 3 if an allocator crashed or could not be built (the table is still
# printed, with CRASH or n/a in its cells).

# Flag and name lists are split on blanks on purpose throughout.
# shellcheck disable=SC2086
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/.." && pwd)
default_build=/tmp/goheap-bench-build

installed=no
rev=
use_goheap=yes
seconds=0.3
repeats=3
patterns=
threads=1,2
window=1000
do_install=yes
keep=no
min_oncpu=0.90
max_tries=4
budget=
build_dir=

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--installed) installed=yes ;;
	--rev) rev=${2:?}; shift ;;
	--no-goheap) use_goheap=no ;;
	--seconds) seconds=${2:?}; shift ;;
	--repeats) repeats=${2:?}; shift ;;
	--patterns) patterns=${2:?}; shift ;;
	--threads) threads=${2:?}; shift ;;
	--window) window=${2:?}; shift ;;
	--min-oncpu) min_oncpu=${2:?}; shift ;;
	--max-tries) max_tries=${2:?}; shift ;;
	--budget) budget=${2:?}; shift ;;
	--no-install) do_install=no ;;
	--keep) keep=yes ;;
	-h|--help) usage 0 ;;
	-*) echo "run-alloc.sh: unknown option $1" >&2; usage 1 >&2 ;;
	*) [ -z "$build_dir" ] || usage 1 >&2; build_dir=$1 ;;
	esac
	shift
done
nsources=0
[ "$installed" = no ] || nsources=$((nsources + 1))
[ -z "$rev" ] || nsources=$((nsources + 1))
[ -z "$build_dir" ] || nsources=$((nsources + 1))
if [ "$nsources" -gt 1 ]; then
	echo "run-alloc.sh: give at most one of --installed, --rev and BUILD_DIR" >&2
	exit 1
fi

CC=${CC:-gcc}
CFLAGS_ALL="-O2 -pthread ${BENCH_CFLAGS:-}"
work=$(mktemp -d /tmp/goheap-alloc-bench.XXXXXX) || exit 1
if [ "$keep" = no ]; then
	trap 'rm -rf "$work"' EXIT
fi
status=0

log() { printf '%s\n' "$*" >&2; }
first_word() { printf '%s\n' "$1"; }
# Where one run's output goes.
outfile() { printf '%s/out-%s-%s-%s\n' "$work" "$1" "$(printf '%s' "$2" | tr / _)" "$3"; }

# --- 1. Peer allocators' packages ------------------------------------------
# Debian package names; elsewhere the compile step below finds out.
missing=
if command -v dpkg >/dev/null 2>&1; then
	for pkg in libjemalloc-dev libmimalloc-dev; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
	done
fi
if [ -n "$missing" ]; then
	if [ "$do_install" = no ]; then
		log "run-alloc.sh: not installed:$missing (--no-install); skipping them"
	elif ! command -v apt-get >/dev/null 2>&1; then
		log "run-alloc.sh: no apt-get to install$missing; skipping them"
	else
		sudo=
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		log "run-alloc.sh: installing$missing"
		$sudo apt-get update -qq >"$work/apt.log" 2>&1
		if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
			$missing >>"$work/apt.log" 2>&1; then
			log "run-alloc.sh: apt-get install failed; see below; skipping them"
			tail -n 5 "$work/apt.log" >&2
		fi
	fi
fi

# --- 2. libgoheap ----------------------------------------------------------
goheap_flags=
goheap_note=
snap=
from_tree=no
[ -n "$build_dir" ] || [ -n "$rev" ] || from_tree=yes
if [ "$use_goheap" = yes ]; then
	if [ "$installed" = yes ]; then
		if goheap_flags=$(pkg-config --cflags --libs goheap 2>"$work/pc.log"); then
			# An rpath, so that a prefix outside the loader's path works.
			libdir=$(pkg-config --variable=libdir goheap)
			[ -z "$libdir" ] || goheap_flags="$goheap_flags -Wl,-rpath,$libdir"
			goheap_note="installed libgoheap $(pkg-config --modversion goheap) from ${libdir:-?}"
		else
			log "run-alloc.sh: pkg-config goheap failed: $(cat "$work/pc.log")"
			exit 1
		fi
	else
		if [ -n "$rev" ]; then
			# A snapshot of the revision, configured and built apart.
			snap=$work/src
			build_dir=$work/build
			log "run-alloc.sh: building libgoheap at $rev in $build_dir"
			mkdir -p "$snap" "$build_dir"
			if ! { git -C "$srcdir" archive --format=tar "$rev" | tar -x -C "$snap"; } \
				>"$work/build.log" 2>&1 ||
				! (cd "$snap" && mkdir -p m4 && autoreconf -fi) >>"$work/build.log" 2>&1 ||
				! (cd "$build_dir" && "$snap/configure" -q &&
					make -j2 lib/libgoheap.la) >>"$work/build.log" 2>&1; then
				log "run-alloc.sh: building libgoheap at $rev failed:"
				tail -n 30 "$work/build.log" >&2
				exit 1
			fi
		elif [ -z "$build_dir" ] && [ -f "$srcdir/config.status" ]; then
			# Configured in place: a separate build would be refused.
			build_dir=$srcdir
			log "run-alloc.sh: the source tree is configured in place; building there"
			if ! make -C "$srcdir" -j2 lib/libgoheap.la >"$work/build.log" 2>&1; then
				log "run-alloc.sh: building libgoheap failed:"
				tail -n 30 "$work/build.log" >&2
				exit 1
			fi
		elif [ -z "$build_dir" ]; then
			build_dir=$default_build
			log "run-alloc.sh: building libgoheap in $build_dir"
			if [ ! -x "$srcdir/configure" ]; then
				(cd "$srcdir" && autoreconf -fi) >"$work/build.log" 2>&1 || {
					log "run-alloc.sh: autoreconf -fi failed:"
					tail -n 20 "$work/build.log" >&2
					exit 1
				}
			fi
			mkdir -p "$build_dir"
			if ! (cd "$build_dir" &&
				{ [ -f Makefile ] || "$srcdir/configure" -q; } &&
				make -j2 lib/libgoheap.la) >>"$work/build.log" 2>&1; then
				log "run-alloc.sh: building libgoheap failed:"
				tail -n 30 "$work/build.log" >&2
				exit 1
			fi
		fi
		build_dir=$(cd "$build_dir" 2>/dev/null && pwd) || {
			log "run-alloc.sh: no such build directory: $build_dir"
			exit 1
		}
		so=$build_dir/lib/.libs/libgoheap.so
		if [ ! -e "$so" ]; then
			log "run-alloc.sh: $so does not exist (run make in $build_dir)"
			exit 1
		fi
		goheap_flags="-I$build_dir/include -I${snap:-$srcdir}/include -L$build_dir/lib/.libs -lgoheap -Wl,-rpath,$build_dir/lib/.libs"
		goheap_note="libgoheap from $build_dir"
		if [ -n "$rev" ]; then
			goheap_note="libgoheap at $(git -C "$srcdir" rev-parse --short "$rev") ($rev), built apart"
		elif [ "$from_tree" = yes ] && [ -d "$srcdir/.git" ] &&
			command -v git >/dev/null 2>&1; then
			rev=$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null) &&
				goheap_note="$goheap_note (source at $rev$(
				[ -z "$(git -C "$srcdir" status --porcelain -- lib include 2>/dev/null)" ] ||
					echo ', with local changes'))"
		fi
	fi
fi

# --- 3. One binary per allocator -------------------------------------------
# name|macro|libraries
variants="glibc||
jemalloc|-DALLOC_JEMALLOC|-ljemalloc
mimalloc|-DALLOC_MIMALLOC|-lmimalloc"
if [ "$use_goheap" = yes ]; then
	variants="$variants
goheap-atomic|-DALLOC_GOHEAP_ATOMIC|$goheap_flags -ldl
goheap|-DALLOC_GOHEAP|$goheap_flags -ldl"
fi

built=
all_names=
while IFS='|' read -r name macro libs; do
	all_names="$all_names $name"
	if $CC $CFLAGS_ALL $macro -o "$work/alloc_bench-$name" \
		"$here/alloc_bench.c" $libs >"$work/cc-$name.log" 2>&1; then
		built="$built $name"
	else
		log "run-alloc.sh: could not build the $name variant; skipping it:"
		tail -n 10 "$work/cc-$name.log" >&2
		status=3
	fi
done <<EOF
$variants
EOF
[ -n "$built" ] || { log "run-alloc.sh: nothing to run"; exit 1; }

if [ -n "$patterns" ]; then
	pattern_list=$(echo "$patterns" | tr ',' ' ')
else
	pattern_list=$("$work/alloc_bench-$(first_word $built)" -l | tr '\n' ' ')
fi

# --- 4. Run, round-robin ---------------------------------------------------
# For each repeat and pattern, every allocator runs once (both thread
# counts), in an order rotated from one round to the next so that no
# allocator always runs first or last.
#
# Disturbance: each cell reports "oncpu", the smallest fraction of the
# interval that one of its threads actually ran, and "others", the share of
# the machine that other processes used meanwhile.  A cell with oncpu below
# --min-oncpu was disturbed if other processes' CPU use can account for the
# loss (1 - oncpu <= others * ncpu + 0.05), and its run is tried again
# (after a pause, at most $max_tries times, while the retries stay within
# their time budget).  A loss that other processes do not account for means
# the allocator itself kept its threads waiting (locks, collections): that
# is a result, not a disturbance.  The table uses undisturbed samples only,
# where a cell has any.
ncpu=$(nproc 2>/dev/null || echo 1)
set -- $built
nvar=$#
results=$work/results.txt
: >"$results"
crashes=$work/crashes.txt
: >"$crashes"
log "run-alloc.sh: $nvar allocators x $(echo $pattern_list | wc -w) patterns x threads $threads x $repeats repeats, ${seconds}s per cell"
# A run that hangs counts as a crash (exit status 124).
timeout=
command -v timeout >/dev/null 2>&1 && timeout="timeout 120"
nruns=0
ndisturbed=0
nreruns=0
if [ -z "$budget" ]; then
	# Undisturbed: per run, each thread count's cell plus ~0.15 s of set-up.
	nthr=$(echo "$threads" | tr ',' ' ' | wc -w)
	budget=$(awk -v v="$nvar" -v p="$(echo $pattern_list | wc -w)" -v r="$repeats" \
		-v t="$nthr" -v s="$seconds" 'BEGIN { printf "%d", 0.25 * v * p * r * (t * s + 0.15) + 1 }')
fi
retry_spent=0
round=0
rep=1
while [ "$rep" -le "$repeats" ]; do
	for pat in $pattern_list; do
		i=0
		while [ "$i" -lt "$nvar" ]; do
			k=$(( (round + i) % nvar + 1 ))
			eval "name=\${$k}"
			try=1
			while :; do
				out=$(outfile "$name" "$pat" "$rep.$try")
				nruns=$((nruns + 1))
				# The subshell takes the shell's own "Segmentation
				# fault" notice, so that it does not go to the terminal.
				( $timeout "$work/alloc_bench-$name" -p "$pat" -T "$threads" \
					-w "$window" -s "$seconds" -r 1 >"$out" 2>"$out.err" ) \
					2>/dev/null
				rc=$?
				[ "$try" -eq 1 ] || retry_spent=$((retry_spent + SECONDS - t_retry))
				[ -s "$work/ident-$name" ] ||
					sed -n 's/^# allocator /  /p' "$out" >"$work/ident-$name"
				awk -v n="$name" -v r="$rep.$try" \
					'!/^#/ && NF == 6 { print n, $1, $2, $3, $4, $5, $6, r }' \
					"$out" >>"$results"
				# libgoheap's collections during the run.
				sed -n "s|^# goheap: .* numgc \([0-9]*\).*|$name $pat \1|p" "$out" \
					>>"$work/numgc.txt"
				if [ "$rc" -ne 0 ]; then
					cellinfo=$(grep '^# begin ' "$out" | tail -n 1 | cut -d' ' -f3-)
					[ -n "$cellinfo" ] || cellinfo="$pat ?"
					echo "$name $cellinfo $rep rc=$rc" >>"$crashes"
					why="exit status $rc"
					[ "$rc" -ne 124 ] || why="timed out (hung?)"
					[ "$rc" -le 128 ] || why="killed by SIG$(kill -l $((rc - 128)))"
					{
						echo "== $name $cellinfo threads, repeat $rep: $why"
						echo "   reproduce: $work/alloc_bench-$name -p $pat -T $threads -w $window -s $seconds -r 1"
						tail -n 5 "$out.err" | sed 's/^/   /'
					} >>"$work/crash-details.txt"
					status=3
					break
				fi
				disturbed=$(awk -v m="$min_oncpu" -v nc="$ncpu" \
					'!/^#/ && NF == 6 && $5 < m && ($6 < 0 || 1 - $5 <= $6 * nc + 0.05) { d = 1 }
					END { print d + 0 }' "$out")
				[ "$disturbed" = 1 ] || break
				ndisturbed=$((ndisturbed + 1))
				if [ "$try" -ge "$max_tries" ] || [ "$retry_spent" -ge "$budget" ]; then
					break
				fi
				t_retry=$SECONDS
				sleep 1
				try=$((try + 1))
				nreruns=$((nreruns + 1))
			done
			i=$((i + 1))
		done
		round=$((round + 1))
	done
	rep=$((rep + 1))
done

# --- 5. The table ----------------------------------------------------------
echo "libgoheap allocation benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cpus; $($CC --version | head -n 1)"
for name in $built; do
	cat "$work/ident-$name" 2>/dev/null
done
[ -z "$goheap_note" ] || echo "  $goheap_note"
echo "ns per allocation+free pair, median of $repeats; window = $window live blocks per thread; ${seconds}s per cell"
echo "runs: $nruns, of which $ndisturbed disturbed by other processes (a thread on a CPU < $min_oncpu of the time"
echo "  while other processes used the CPU) and $nreruns rerun; ~ marks a cell with no undisturbed sample"
echo "  (its median is of disturbed ones); ! a cell whose threads were mostly kept off the CPU by the"
echo "  allocator itself (lock waits, stop-the-world collections), not by other processes"
[ "$use_goheap" = no ] || echo "peer/ga = peer ns / goheap-atomic ns (> 1: goheap-atomic is faster)"
echo
awk -v names="$all_names" -v built=" $built " -v pats="$pattern_list" \
	-v thr="$threads" -v crashfile="$crashes" -v minc="$min_oncpu" -v nc="$ncpu" '
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) v[i] = vals[key, i]
	for (i = 2; i <= n; i++) {
		t = v[i]
		for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
		v[j + 1] = t
	}
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# The samples of a cell to use: the undisturbed ones if there are any.
function pick(k) {
	return cnt[k SUBSEP "clean" SUBSEP "ns"] ? k SUBSEP "clean" : k SUBSEP "all"
}
function noisy(k) {
	if (!cnt[k SUBSEP "clean" SUBSEP "ns"]) return "~"
	return 2 * cnt[k SUBSEP "self"] > cnt[k SUBSEP "clean" SUBSEP "ns"] ? "!" : ""
}
function cellstr(name, pat, t,    k) {
	if (index(built, " " name " ") == 0) return "n/a"
	k = name SUBSEP pat SUBSEP t
	if (k in crashed) return "CRASH"
	if (cnt[k SUBSEP "all" SUBSEP "ns"] == 0) return "-"
	return sprintf("%.2f%s", median(pick(k) SUBSEP "ns"), noisy(k))
}
function add(key, v) {
	cnt[key]++; vals[key, cnt[key]] = v + 0
}
BEGIN {
	while ((getline line < crashfile) > 0) {
		split(line, f, " ")
		crashed[f[1], f[2], f[3]] = 1
	}
}
{
	k = $1 SUBSEP $2 SUBSEP $3
	add(k SUBSEP "all" SUBSEP "ns", $4); add(k SUBSEP "all" SUBSEP "mops", $5)
	lowcpu = ($6 + 0 < minc + 0)
	# Lost CPU time that other processes do not account for: self-inflicted.
	self = lowcpu && $7 + 0 >= 0 && 1 - $6 > $7 * nc + 0.05
	if (!lowcpu || self) {
		add(k SUBSEP "clean" SUBSEP "ns", $4); add(k SUBSEP "clean" SUBSEP "mops", $5)
		if (self) cnt[k SUBSEP "self"]++
	}
}
END {
	nn = split(names, nm, " ")
	np = split(pats, pt, " ")
	nt = split(thr, th, ",")
	peers = 0
	for (i = 1; i <= nn; i++)
		if (nm[i] != "goheap-atomic" && nm[i] != "goheap") pr[++peers] = nm[i]
	hasgh = (index(names, "goheap-atomic") > 0)

	hdr = sprintf("%-14s %3s", "pattern", "thr")
	for (i = 1; i <= nn; i++) hdr = hdr sprintf(" %13s", nm[i])
	if (hasgh) {
		hdr = hdr " |"
		for (i = 1; i <= peers; i++) hdr = hdr sprintf(" %11s", substr(pr[i], 1, 8) "/ga")
	}
	print hdr
	line = hdr; gsub(/./, "-", line); print line
	for (p = 1; p <= np; p++) for (t = 1; t <= nt; t++) {
		row = sprintf("%-14s %3s", pt[p], th[t])
		for (i = 1; i <= nn; i++) row = row sprintf(" %13s", cellstr(nm[i], pt[p], th[t]))
		if (hasgh) {
			row = row " |"
			g = cellstr("goheap-atomic", pt[p], th[t])
			for (i = 1; i <= peers; i++) {
				c = cellstr(pr[i], pt[p], th[t])
				if (g ~ /^[0-9.]+[~!]?$/ && c ~ /^[0-9.]+[~!]?$/ && g + 0 > 0) {
					r = (c + 0) / (g + 0)
					row = row sprintf(" %11s", sprintf("%.2f", r) ((c g) ~ /~/ ? "~" : (c g) ~ /!/ ? "!" : ""))
					lsum[i] += log(r); lcnt[i]++
				} else row = row sprintf(" %11s", "-")
			}
		}
		print row
	}
	if (hasgh) {
		row = sprintf("%-14s %3s", "geomean", "")
		for (i = 1; i <= nn; i++) row = row sprintf(" %13s", "")
		row = row " |"
		for (i = 1; i <= peers; i++)
			row = row sprintf(" %11s", lcnt[i] ? sprintf("%.2f", exp(lsum[i] / lcnt[i])) : "-")
		print row
	}

	if (nt >= 2) {
		print ""
		printf "aggregate Mpairs/s with %s threads (speedup over %s thread%s; %s.00x is perfect)\n", \
			th[nt], th[1], th[1] == 1 ? "" : "s", th[nt] / th[1]
		hdr = sprintf("%-14s", "pattern")
		for (i = 1; i <= nn; i++) hdr = hdr sprintf(" %16s", nm[i])
		print hdr
		line = hdr; gsub(/./, "-", line); print line
		for (p = 1; p <= np; p++) {
			row = sprintf("%-14s", pt[p])
			for (i = 1; i <= nn; i++) {
				k1 = nm[i] SUBSEP pt[p] SUBSEP th[1]
				kn = nm[i] SUBSEP pt[p] SUBSEP th[nt]
				if (index(built, " " nm[i] " ") == 0) s = "n/a"
				else if ((k1 in crashed) || (kn in crashed)) s = "CRASH"
				else if (cnt[k1 SUBSEP "all" SUBSEP "mops"] == 0 || cnt[kn SUBSEP "all" SUBSEP "mops"] == 0) s = "-"
				else {
					m1 = median(pick(k1) SUBSEP "mops"); mn = median(pick(kn) SUBSEP "mops")
					fl = noisy(k1) noisy(kn)
					s = sprintf("%.1f (%.2fx)%s", mn, mn / m1, fl ~ /~/ ? "~" : fl ~ /!/ ? "!" : "")
					ssum[i] += log(mn / m1); scnt[i]++
				}
				row = row sprintf(" %16s", s)
			}
			print row
		}
		row = sprintf("%-14s", "geomean")
		for (i = 1; i <= nn; i++)
			row = row sprintf(" %16s", scnt[i] ? sprintf("(%.2fx)", exp(ssum[i] / scnt[i])) : "-")
		print row
	}
}' "$results"

if [ -s "$work/numgc.txt" ]; then
	awk '$3 > 0 { n[$1 " " $2] = n[$1 " " $2] " " $3 }
	END { for (k in n) print k ":" n[k] }' "$work/numgc.txt" | sort >"$work/numgc-summary.txt"
	if [ -s "$work/numgc-summary.txt" ]; then
		echo
		echo "libgoheap collections per run (both thread counts; one figure per run):"
		sed 's/^/  /' "$work/numgc-summary.txt"
	fi
fi

if [ -s "$work/crash-details.txt" ]; then
	echo
	echo "crashes:"
	cat "$work/crash-details.txt"
	[ "$keep" = yes ] || echo "(rerun with --keep to keep the binaries for the reproduction commands)"
fi
[ "$keep" = no ] || log "run-alloc.sh: work directory kept: $work"
exit $status
