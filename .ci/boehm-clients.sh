#!/bin/bash
# .ci/boehm-clients.sh - Debian's own Boehm collector programs, unmodified,
# on libgoheap's libgc.so.1 (goheap-run(1)): each must print exactly what it
# prints on Debian's libgc1, and must have collected on libgoheap's heap
# (GOHEAP_GOGC=25, GOHEAP_DEBUG=gctrace=1: one stderr line per collection).
#
#   w3m -dump     a generated 2.5 MB page of nested tables, lists and links
#   mmv           renames 40000 files ('*.txt' -> '#1.bak')
#   debfoster     -s (orphans) and -d libc6 from this machine's dpkg status
#   chase         follows 10000 symlinks in chains of 40
#   guile-3.0     runs tests/boehm-guile.scm (mark procedures, weak tables,
#                 guardians) and compiles it: the same output, the same
#                 bytecode
#
# Run from anywhere in a clone, as root (it apt-get installs the clients
# and libgc1 if missing), after a build in build/ (scripts/build.sh) or
# with GOHEAP_RUN_LIBDIR pointing at another libgc.so.1.  Prints TAP
# lines and, last, "N passed, N failed"; exits 1 if any check failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

n=0 passed=0 failed=0
check() { # check STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
	fi
}
finish() {
	echo "1..$n"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# --- What the checks need ----------------------------------------------------
missing=()
for p in w3m mmv debfoster chase guile-3.0 libgc1; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "# installing ${missing[*]}"
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
		>/tmp/boehm-clients-deps.$$.log 2>&1
	st=$?
	[ $st = 0 ] || sed 's/^/#   /' /tmp/boehm-clients-deps.$$.log | tail -20
	rm -f /tmp/boehm-clients-deps.$$.log
	check $st "the clients are installed"
	[ $st = 0 ] || finish
fi

run=$top/build/tools/goheap-run
: "${GOHEAP_RUN_LIBDIR:=$top/build/lib/.libs}"
export GOHEAP_RUN_LIBDIR
if [ ! -x "$run" ] || [ ! -e "$GOHEAP_RUN_LIBDIR/libgc.so.1" ]; then
	echo "# build first: bash scripts/build.sh (no $run or $GOHEAP_RUN_LIBDIR/libgc.so.1)"
	check 1 "goheap-run and libgc.so.1 are built"
	finish
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/boehm-clients.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home # w3m keeps its state there
mkdir -p "$HOME"

# ours NAME CMD...: run CMD on libgoheap in $tmp/NAME.*, with collections
# traced; debian NAME CMD...: the same on Debian's libgc1.
ours() {
	local name=$1
	shift
	GOHEAP_GOGC=25 GOHEAP_DEBUG=gctrace=1 "$run" "$@" >"$tmp/$name.ours" 2>"$tmp/$name.ours.err"
	echo $? >"$tmp/$name.ours.rc"
}
debian() {
	local name=$1
	shift
	"$@" >"$tmp/$name.deb" 2>"$tmp/$name.deb.err"
	echo $? >"$tmp/$name.deb.rc"
}
# compare NAME DESCRIPTION: same stdout, same stderr but for goheap's
# lines, same exit status; and at least one collection.
compare() {
	local name=$1 what=$2 gcs
	cmp -s "$tmp/$name.ours" "$tmp/$name.deb" &&
		cmp -s <(grep -v '^goheap: ' "$tmp/$name.ours.err") "$tmp/$name.deb.err" &&
		cmp -s "$tmp/$name.ours.rc" "$tmp/$name.deb.rc"
	local st=$?
	if [ $st != 0 ]; then
		diff <(cat "$tmp/$name.deb.rc" "$tmp/$name.deb" "$tmp/$name.deb.err") \
			<(cat "$tmp/$name.ours.rc" "$tmp/$name.ours" \
				<(grep -v '^goheap: ' "$tmp/$name.ours.err")) | head -20 | sed 's/^/#   /'
	fi
	check $st "$what: output identical to Debian's libgc ($(wc -l <"$tmp/$name.deb") lines, exit $(cat "$tmp/$name.deb.rc"))"
	gcs=$(grep -c '^goheap: gc ' "$tmp/$name.ours.err")
	[ "$gcs" -ge 1 ]
	check $? "$what: ran on libgoheap and collected ($gcs collections)"
	grep '^goheap: ' "$tmp/$name.ours.err" | grep -v '^goheap: gc ' | head -5 | sed 's/^/#   /'
}

# --- w3m ----------------------------------------------------------------------
awk -v SECTIONS=400 -f "$top/tests/boehm-page.awk" >"$tmp/page.html"
debian w3m w3m -dump -cols 120 "$tmp/page.html"
ours w3m w3m -dump -cols 120 "$tmp/page.html"
compare w3m "w3m -dump of a $(($(wc -c <"$tmp/page.html") / 1024)) KiB page"

# --- mmv ------------------------------------------------------------------------
for side in deb ours; do
	mkdir -p "$tmp/mmv.$side.d"
	(cd "$tmp/mmv.$side.d" && seq -f 'file%06g.txt' 1 40000 | xargs touch)
done
(cd "$tmp/mmv.deb.d" && debian mmv mmv '*.txt' '#1.bak')
(cd "$tmp/mmv.ours.d" && ours mmv mmv '*.txt' '#1.bak')
compare mmv "mmv of 40000 files"
cmp -s <(ls "$tmp/mmv.deb.d") <(ls "$tmp/mmv.ours.d")
check $? "mmv: the same files renamed the same way ($(ls "$tmp/mmv.ours.d" | grep -c '\.bak$') .bak)"

# --- debfoster --------------------------------------------------------------------
debian debfoster-s debfoster -n -k "$tmp/keepers" -s
ours debfoster-s debfoster -n -k "$tmp/keepers" -s
compare debfoster-s "debfoster -s"
debian debfoster-d debfoster -n -k "$tmp/keepers" -d libc6
ours debfoster-d debfoster -n -k "$tmp/keepers" -d libc6
cmp -s "$tmp/debfoster-d.ours" "$tmp/debfoster-d.deb"
check $? "debfoster -d libc6: output identical to Debian's libgc"

# --- chase --------------------------------------------------------------------------
mkdir "$tmp/links"
(
	cd "$tmp/links" || exit 1
	for c in $(seq 250); do
		touch "t$c"
		prev=t$c
		for i in $(seq 40); do
			ln -s "$prev" "c${c}_$i"
			prev=c${c}_$i
		done
	done
	ls | grep '^c' >"$tmp/links.list"
)
(cd "$tmp/links" && debian chase chase -f "$tmp/links.list")
(cd "$tmp/links" && ours chase chase -f "$tmp/links.list")
compare chase "chase of 10000 symlinks"

# --- guile ----------------------------------------------------------------------------
debian guile guile-3.0 --no-auto-compile "$top/tests/boehm-guile.scm"
ours guile guile-3.0 --no-auto-compile "$top/tests/boehm-guile.scm"
compare guile "guile-3.0 tests/boehm-guile.scm"
compile='(use-modules (system base compile)) (compile-file (cadr (command-line)) #:output-file (caddr (command-line)))'
debian guilec guile-3.0 --no-auto-compile -c "$compile" "$top/tests/boehm-guile.scm" "$tmp/deb.go"
ours guilec guile-3.0 --no-auto-compile -c "$compile" "$top/tests/boehm-guile.scm" "$tmp/ours.go"
compare guilec "guile-3.0 compile-file"
cmp -s "$tmp/deb.go" "$tmp/ours.go"
check $? "guile-3.0 compile-file: the same bytecode ($(wc -c <"$tmp/ours.go") bytes)"

finish
