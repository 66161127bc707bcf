#!/bin/sh
# t-stat.sh - goheap-stat against a running program (tests/stat-child).
#
# A TAP test.  A child linked with libgoheap is started with its stats
# files in a scratch directory (GOHEAP_STATS_DIR), then goheap-stat must:
# list it; show a snapshot whose figures are those the child reads with
# goheap_read_memstats; collect on request (numgc grows); write a heap dump
# on request whose histogram totals are the child's memstats; print JSON
# that parses; refuse another user (as nobody, when run as root); ignore
# and remove the files of dead processes; and give the documented exit
# codes for missing processes and for corrupt, truncated and unknown-
# version stats files and dumps.
#
# make check sets top_builddir; by hand: top_builddir=build sh tests/t-stat.sh

: "${top_builddir:=.}"
tool=$top_builddir/tools/goheap-stat
child=$top_builddir/tests/stat-child

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
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }

[ -x "$tool" ] && [ -x "$child" ] || { echo "Bail out! build $tool and $child first"; exit 99; }
command -v python3 >/dev/null 2>&1 || { echo "1..0 # SKIP python3 not installed"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-stat.XXXXXX") || exit 99
chmod 755 "$tmp"
GOHEAP_STATS_DIR=$tmp/shm
export GOHEAP_STATS_DIR
mkdir "$GOHEAP_STATS_DIR" && chmod 1777 "$GOHEAP_STATS_DIR"
mkfifo "$tmp/in"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# The child reads commands from the fifo on fd 3.  Its long argument
# (which it ignores) makes a command line wider than any terminal column.
longarg=$(printf 'arg%.0s' $(seq 40))
"$child" "$longarg" <"$tmp/in" >"$tmp/child.out" 2>&1 &
pid=$!
exec 3>"$tmp/in"
udir=$GOHEAP_STATS_DIR/goheap-$(id -u)
for i in $(seq 100); do [ -f "$udir/$pid" ] && break; sleep 0.1; done
test -f "$udir/$pid"
ok $? "the child publishes $udir/$pid"
[ -f "$udir/$pid" ] || finish
is "$(stat -c %a "$udir")" 700 "its directory is mode 0700"
is "$(stat -c %a "$udir/$pid")" 600 "the file is mode 0600"

child_stat() { # child_stat NAME: the child's own memstats figure
	rm -f "$tmp/ms"
	echo "stats $tmp/ms" >&3
	for i in $(seq 100); do [ -f "$tmp/ms" ] && break; sleep 0.05; done
	awk -v k="$1" '$1 == k { print $2 }' "$tmp/ms"
}
json_field() { # json_field NAME < JSON
	python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"
}

# --- the list ---
out=$("$tool")
st=$?
ok $st "goheap-stat lists processes"
printf '%s\n' "$out" | awk -v p="$pid" '$1 == p { f = 1 } END { exit !f }'
ok $? "the child is listed"
printf '%s\n' "$out" | grep -q "stat-child $longarg\$"
ok $? "with its whole command line (the output is no terminal)"
printf '%s\n' "$out" | awk -v p="$pid" '$1 == p && ($7 == "stw" || $7 == "uffd" || $7 == "mprotect") { f = 1 } END { exit !f }'
ok $? "and how its collector marks (GC column)"
"$tool" -o json | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'
ok $? "the list as JSON parses"
# The mode the child was started with is the one listed.
mode=$("$tool" -o json | python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if d["pid"] == int(sys.argv[1]): print(d["gc"])' "$pid")
case ${GOHEAP_GC-} in
stw) want=stw ;;
concurrent-mprotect) want=mprotect ;;
*) want=$mode ;; # uffd where the kernel has it, stw elsewhere
esac
[ "$mode" = "$want" ] && { [ "$mode" = stw ] || [ "$mode" = uffd ] || [ "$mode" = mprotect ]; }
ok $? "the JSON list says how it marks ($mode)"

# --- a snapshot agrees with goheap_read_memstats ---
child_stat heap_alloc >/dev/null
sleep 1.3 # the monitor refreshes at least every second
"$tool" -o json "$pid" >"$tmp/snap.json"
ok $? "goheap-stat -o json PID"
python3 -m json.tool "$tmp/snap.json" >/dev/null
ok $? "the JSON parses"
for f in heap_alloc heap_objects nmalloc nfree total_alloc numgc next_gc; do
	is "$(json_field $f <"$tmp/snap.json")" "$(child_stat $f)" "snapshot $f == the child's"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["pause_ns"]) == 256 and d["by_size"][1]["size"] == 16' "$tmp/snap.json"
ok $? "arrays: pause_ns[256], by_size[].size"
"$tool" "$pid" 0.2 3 >"$tmp/rows"
ok $? "goheap-stat PID 0.2 3"
is "$(wc -l <"$tmp/rows" | tr -d ' ')" 4 "a header and three rows"
head -1 "$tmp/rows" | grep -q 'ALLOC.*SYS.*IDLE.*RELEASED.*OBJECTS.*GCS.*LASTPAUSE.*PAUSES.*GC%'
ok $? "the columns"

# --- requests ---
before=$(child_stat numgc)
"$tool" gc "$pid" >/dev/null
ok $? "goheap-stat gc PID"
after=$(child_stat numgc)
[ "$after" -gt "$before" ]
ok $? "numgc grew from $before to $after"
is "$("$tool" -o json "$pid" | json_field numgc)" "$after" "the file shows it at once"

"$tool" dump "$pid" "$tmp/heap.dump" >/dev/null
ok $? "goheap-stat dump PID FILE"
"$tool" -o json histo "$tmp/heap.dump" >"$tmp/histo.json"
ok $? "goheap-stat histo FILE"
is "$(json_field objects <"$tmp/histo.json")" "$(child_stat heap_objects)" "dump objects == heap_objects"
is "$(json_field bytes <"$tmp/histo.json")" "$(child_stat heap_alloc)" "dump bytes == heap_alloc"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k={c["kind"] for c in d["classes"]}; assert k >= {"scan","noscan","typed","tiny"}, k; assert d["finalizers"] == 1; assert any(r["kind"]=="range" for r in d["roots"])' "$tmp/histo.json"
ok $? "every kind, the finalizer and the registered range are in the dump"
"$tool" histo "$tmp/heap.dump" | grep -q '^largest objects'
ok $? "the text histogram"
"$tool" dump "$pid" "$tmp/heap.dump" >/dev/null 2>"$tmp/err"
is $? 1 "a dump onto an existing file fails (exit 1)"
grep -q 'File exists' "$tmp/err"
ok $? "saying so"

"$tool" set-gc-percent "$pid" 250 >/dev/null
ok $? "goheap-stat set-gc-percent PID 250"
is "$("$tool" -o json "$pid" | json_field gc_percent)" 250 "gc_percent is 250"
"$tool" set-gc-percent "$pid" 100 >/dev/null
"$tool" free-os-memory "$pid" >/dev/null
ok $? "goheap-stat free-os-memory PID"

# --- another user ---
if [ "$(id -u)" -ne 0 ]; then
	skip "another user is refused" "not root: cannot run as nobody"
elif ! command -v setpriv >/dev/null 2>&1; then
	skip "another user is refused" "setpriv not installed"
else
	asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	asnobody "$tool" "$pid" >/dev/null 2>"$tmp/err"
	is $? 5 "nobody cannot read the stats (exit 5)"
	grep -q 'permission denied' "$tmp/err"
	ok $? "and is told why"
	asnobody "$tool" gc "$pid" >/dev/null 2>&1
	is $? 5 "nobody cannot send requests (exit 5)"
	asnobody "$tool" 2>/dev/null | awk -v p="$pid" '$1 == p { f = 1 } END { exit f }'
	ok $? "nobody's list does not show the child"
	asnobody cat "$udir/$pid" >/dev/null 2>&1
	is $? 1 "nobody cannot open the file at all"
fi

# --- errors ---
sh -c 'exit 0' &
dead=$!
wait $dead
"$tool" "$dead" >/dev/null 2>&1
is $? 3 "a process that does not exist (exit 3)"
sleep 60 &
sleeper=$!
"$tool" "$sleeper" >/dev/null 2>&1
is $? 4 "a process not using libgoheap (exit 4)"
"$tool" nonsense >/dev/null 2>&1
is $? 2 "a bad command line (exit 2)"

# Files a killed process left behind are ignored and removed.
cp -p "$udir/$pid" "$udir/$dead"
"$tool" | awk -v p="$dead" '$1 == p { f = 1 } END { exit f }'
ok $? "a dead process's file is not listed"
test ! -e "$udir/$dead"
ok $? "and is removed"
# By a starting process too.
cp -p "$udir/$pid" "$udir/$dead"
"$child" </dev/null >/dev/null 2>&1
test ! -e "$udir/$dead"
ok $? "a starting process removes it too"

# Corrupt, truncated and unknown-version stats files, planted for a live
# process that does not use libgoheap.
patch() { # patch FILE OFFSET BYTE
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(bytes([int(sys.argv[3])]))' "$@"
}
plant() { cp -p "$udir/$pid" "$udir/$sleeper"; }
plant; head -c 100 "$udir/$pid" >"$udir/$sleeper"
"$tool" "$sleeper" >/dev/null 2>&1
is $? 7 "a truncated stats file (exit 7)"
plant; patch "$udir/$sleeper" 0 88
"$tool" "$sleeper" >/dev/null 2>&1
is $? 7 "a stats file with a bad magic (exit 7)"
plant; patch "$udir/$sleeper" 8 99
"$tool" "$sleeper" >/dev/null 2>"$tmp/err"
is $? 6 "a stats file of an unknown version (exit 6)"
plant; patch "$udir/$sleeper" 68 255; patch "$udir/$sleeper" 69 255
"$tool" "$sleeper" >/dev/null 2>&1
is $? 7 "a stats file with a bad field offset (exit 7)"
plant
"$tool" "$sleeper" >/dev/null 2>&1
is $? 4 "another process's file under its pid is stale (exit 4)"
test ! -e "$udir/$sleeper"
ok $? "and is removed"

# Corrupt and truncated dumps.
size=$(stat -c %s "$tmp/heap.dump")
head -c $((size / 2)) "$tmp/heap.dump" >"$tmp/half.dump"
"$tool" histo "$tmp/half.dump" >/dev/null 2>&1
is $? 7 "a truncated dump (exit 7)"
: >"$tmp/empty.dump"
"$tool" histo "$tmp/empty.dump" >/dev/null 2>&1
is $? 7 "an empty dump (exit 7)"
cp "$tmp/heap.dump" "$tmp/v.dump"; patch "$tmp/v.dump" 16 9
"$tool" histo "$tmp/v.dump" >/dev/null 2>&1
is $? 6 "a dump of an unknown version (exit 6)"
cp "$tmp/heap.dump" "$tmp/c.dump"; patch "$tmp/c.dump" 17 0
"$tool" histo "$tmp/c.dump" >/dev/null 2>&1
is $? 7 "a dump with a bad record (exit 7)"
"$tool" histo "$tool" >/dev/null 2>&1
is $? 7 "a file that is not a dump (exit 7)"

# --- exit: the file goes ---
echo quit >&3
exec 3>&-
wait "$pid"
is $? 0 "the child exits normally"
test ! -e "$udir/$pid"
ok $? "its stats file is removed"
pid=

# The monitor forces a collection when none ran for the period.
GOHEAP_FORCEGC_PERIOD=300 "$child" <"$tmp/in" >/dev/null 2>&1 &
pid=$!
exec 3>"$tmp/in"
sleep 1.5
[ "$(child_stat numgc)" -ge 2 ]
ok $? "GOHEAP_FORCEGC_PERIOD=300 forces collections"
echo quit >&3
exec 3>&-
wait "$pid"
pid=

# GOHEAP_STATS=0: no file.
GOHEAP_STATS=0 "$child" <"$tmp/in" >/dev/null 2>&1 &
pid=$!
exec 3>"$tmp/in"
child_stat numgc >/dev/null
test ! -e "$udir/$pid"
ok $? "GOHEAP_STATS=0 publishes nothing"
"$tool" "$pid" >/dev/null 2>&1
is $? 4 "and goheap-stat says the process does not use libgoheap (exit 4)"
echo quit >&3
exec 3>&-
wait "$pid"
pid=

finish
