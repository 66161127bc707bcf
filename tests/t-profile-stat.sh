#!/bin/sh
# t-profile-stat.sh - "goheap-stat profile PID FILE" against a running
# program (tests/stat-child), which samples every allocation
# (GOHEAP_PROFILE_RATE=1) so that the counts are exact.
#
# A TAP test: the request writes a pprof profile that holds at least the
# blocks the child was told to allocate;
# a profile onto an existing file fails with exit status 1; a process that
# does not exist gives exit status 3.  The profile is read back by
# t-profile's own reader (T_PROFILE_READ=FILE tests/t-profile) and, where
# Go is installed (scripts/deps.sh installs it), by "go tool pprof".
#
# make check sets top_builddir; by hand: top_builddir=build sh tests/t-profile-stat.sh

: "${top_builddir:=.}"
tool=$top_builddir/tools/goheap-stat
child=$top_builddir/tests/stat-child

n=0
failed=0
ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }

[ -x "$tool" ] && [ -x "$child" ] || { echo "Bail out! build $tool and $child first"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-profile-stat.XXXXXX") || exit 99
GOHEAP_STATS_DIR=$tmp/shm
export GOHEAP_STATS_DIR
mkdir "$GOHEAP_STATS_DIR"
mkfifo "$tmp/in"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

GOHEAP_PROFILE_RATE=1 "$child" <"$tmp/in" >"$tmp/child.out" 2>&1 &
pid=$!
exec 3>"$tmp/in"
udir=$GOHEAP_STATS_DIR/goheap-$(id -u)
for i in $(seq 100); do [ -f "$udir/$pid" ] && break; sleep 0.1; done
test -f "$udir/$pid"
ok $? "the child publishes its stats file"
[ -f "$udir/$pid" ] || finish

# 3000 more 64-byte blocks from main; "stats" answers once they are done.
echo "alloc 3000" >&3
echo "stats $tmp/ms" >&3
for i in $(seq 100); do [ -f "$tmp/ms" ] && break; sleep 0.05; done

"$tool" profile "$pid" "$tmp/heap.pprof" >"$tmp/out"
ok $? "goheap-stat profile PID FILE"
grep -q "^wrote [0-9]* bytes to $tmp/heap.pprof" "$tmp/out"
ok $? "it says what it wrote: $(cat "$tmp/out")"
test -s "$tmp/heap.pprof"
ok $? "the profile is not empty"

"$tool" profile "$pid" "$tmp/heap.pprof" >/dev/null 2>&1
ok $([ $? -eq 1 ]; echo $?) "a profile onto an existing file fails (exit 1)"
"$tool" profile 999999999 "$tmp/other.pprof" >/dev/null 2>&1
ok $([ $? -eq 3 ]; echo $?) "a process that does not exist (exit 3)"

T_PROFILE_READ=$tmp/heap.pprof "$top_builddir/tests/t-profile" >"$tmp/sums"
ok $? "t-profile's reader parses it"
sed 's/^/# /' "$tmp/sums"
objs=$(awk '$1 == "inuse_objects" { print $2 }' "$tmp/sums")
[ -n "$objs" ] && [ "$objs" -ge 3000 ]
ok $? "it counts at least the 3000 blocks the child was told to allocate in use (${objs:-none})"

if command -v go >/dev/null 2>&1; then
	HOME=${HOME:-$tmp} GOCACHE=${GOCACHE:-$tmp/gocache} go tool pprof -top \
		-sample_index=inuse_objects "$child" "$tmp/heap.pprof" >"$tmp/top" 2>&1
	ok $? "go tool pprof reads it"
	sed 's/^/# /' "$tmp/top"
	# "Showing nodes accounting for 4283, 100% of 4283 total".  Which
	# function holds them is t-profile's business: Go's pprof names C
	# functions from DWARF line tables only, and misses main, which gcc
	# puts in .text.startup.
	objs=$(sed -n 's/^Showing nodes accounting for \([0-9]*\),.*/\1/p' "$tmp/top")
	[ -n "$objs" ] && [ "$objs" -ge 3000 ]
	ok $? "the profile holds at least the 3000 blocks the child was told to allocate (${objs:-none})"
else
	n=$((n + 1))
	echo "ok $n - go tool pprof reads it # SKIP Go is not installed (scripts/deps.sh installs golang-go)"
fi
echo quit >&3
wait "$pid"
ok $? "the child exits normally"
pid=
finish
