#!/bin/sh
# t-boehm-run.sh - goheap-run(1) runs a Boehm program on libgoheap's
# libgc.so.1, and goheap-stat(1) sees it.
#
# A TAP test.  tests/boehm-child is linked with -lgc and no run path, so
# it finds a libgc.so.1 only where goheap-run tells the loader to look
# (GOHEAP_RUN_LIBDIR points goheap-run at the build tree).  Checks: usage
# and exit codes of goheap-run; the child runs on our library, with the
# caller's LD_LIBRARY_PATH kept after ours; its exit status comes back;
# a missing program gives 127; goheap-stat lists the running child and
# collects it on request.
#
# make check sets top_builddir; by hand: top_builddir=build sh tests/t-boehm-run.sh

: "${top_builddir:=.}"
run=$top_builddir/tools/goheap-run
child=$top_builddir/tests/boehm-child
tool=$top_builddir/tools/goheap-stat
libdir=$(cd "$top_builddir/lib/.libs" 2>/dev/null && pwd)

n=0
failed=0
ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
is() { # is GOT EXPECTED DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then echo "ok $n - $3"; else
		echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#   expected: '$2'"
		failed=$((failed + 1))
	fi
}
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }

[ -x "$run" ] && [ -x "$child" ] && [ -n "$libdir" ] ||
	{ echo "Bail out! build $run, $child and lib/.libs first"; exit 99; }
GOHEAP_RUN_LIBDIR=$libdir
export GOHEAP_RUN_LIBDIR

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-boehm-run.XXXXXX") || exit 99
GOHEAP_STATS_DIR=$tmp/shm
export GOHEAP_STATS_DIR
mkdir "$GOHEAP_STATS_DIR"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# --- usage ---
"$run" >/dev/null 2>&1
is $? 2 "no program: exit status 2"
"$run" --bogus x >/dev/null 2>&1
is $? 2 "an unknown option: exit status 2"
"$run" --help | grep -q "usage: goheap-run"
ok $? "--help prints the usage"
"$run" --version | grep -q "^goheap-run (libgoheap) "
ok $? "--version"
"$run" "$tmp/no-such-program" 2>/dev/null
is $? 127 "a missing program: 127"
GOHEAP_RUN_LIBDIR=$tmp "$run" true 2>"$tmp/err"
is $? 127 "a missing libgc.so.1: 127"
grep -q "libgc.so.1 is missing" "$tmp/err"
ok $? "and says so"

# --- the library's ABI ---
so=$libdir/libgc.so.1
soname=$(objdump -p "$so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
is "$soname" libgc.so.1 "the SONAME is libgc.so.1"
foreign=$(nm -D --defined-only "$so" | awk 'NF >= 3 && $3 !~ /^GC_/ { print $3 }')
is "$foreign" "" "it exports GC_* names only"
readelf -V "$so" 2>/dev/null | grep -q "Version definition"
[ $? -ne 0 ]
ok $? "without symbol versions, as Debian's libgc1"
# A program linked with Debian's libgc may hold copies of its variables
# (copy relocations): ours must have the same sizes.
sys=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
	[ -e "$d/libgc.so.1" ] && { sys=$d/libgc.so.1; break; }
done
if [ -n "$sys" ]; then
	data() { nm -D -S --defined-only "$1" | awk 'NF == 4 && $3 ~ /^[BDGRSbdgrs]$/ { print $4, $2 }' | sort; }
	data "$so" >"$tmp/ours.data"
	data "$sys" >"$tmp/sys.data"
	diff=$(join "$tmp/ours.data" "$tmp/sys.data" | awk '$2 != $3')
	is "$diff" "" "its variables have the sizes of $sys's ($(join "$tmp/ours.data" "$tmp/sys.data" | wc -l) shared)"
else
	n=$((n + 1)); echo "ok $n - variable sizes # SKIP no system libgc.so.1"
fi

# --- the child on our library ---
LD_LIBRARY_PATH=/caller/path "$run" "$child" 7 >"$tmp/out" 2>"$tmp/err"
is $? 7 "the program's exit status comes back"
is "$(sed -n 's/^libgc //p' "$tmp/out")" "$libdir/libgc.so.1" "it runs on our libgc.so.1"
is "$(sed -n 's/^path //p' "$tmp/out")" "$libdir:/caller/path" \
	"LD_LIBRARY_PATH: ours first, the caller's kept"
[ "$(sed -n 's/^collections //p' "$tmp/out")" -ge 1 ] 2>/dev/null
ok $? "it collected"
env -u LD_LIBRARY_PATH "$run" -- "$child" 0 >"$tmp/out"
is "$(sed -n 's/^path //p' "$tmp/out")" "$libdir" "without a caller's path, only ours (no empty element)"
# Without goheap-run: the system's libgc.so.1 if there is one, else none.
env -u LD_LIBRARY_PATH "$child" 0 >"$tmp/out" 2>/dev/null
[ "$(sed -n 's/^libgc //p' "$tmp/out")" != "$libdir/libgc.so.1" ]
ok $? "without goheap-run the loader does not find our library"

# --- goheap-stat sees it ---
if [ -x "$tool" ]; then
	mkfifo "$tmp/in"
	"$run" "$child" 0 wait <"$tmp/in" >"$tmp/out2" 2>&1 &
	pid=$!
	exec 3>"$tmp/in"
	udir=$GOHEAP_STATS_DIR/goheap-$(id -u)
	for i in $(seq 100); do [ -f "$udir/$pid" ] && break; sleep 0.1; done
	"$tool" | awk -v p="$pid" '$1 == p { f = 1 } END { exit !f }'
	ok $? "goheap-stat lists the program goheap-run started"
	"$tool" | grep -q "boehm-child"
	ok $? "with its command"
	before=$("$tool" -o json "$pid" | sed -n 's/.*"numgc": *\([0-9]*\).*/\1/p')
	"$tool" gc "$pid" >/dev/null
	ok $? "goheap-stat gc PID"
	after=$("$tool" -o json "$pid" | sed -n 's/.*"numgc": *\([0-9]*\).*/\1/p')
	[ "${after:-0}" -gt "${before:-0}" ]
	ok $? "it collected on request ($before -> $after)"
	exec 3>&-
	wait "$pid"
	is $? 0 "and exits when its input closes"
	pid=
fi
finish
