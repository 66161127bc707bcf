#!/bin/sh
# t-sizeclass-gen: lib/sizeclasses.h is what tools/mksizeclasses makes.
#
# The size-class tables are generated and committed; this regenerates
# them with the generator built in the tree and compares, so that a change
# to either side without the other fails "make check".  TAP output.

: "${top_srcdir:=.}"
: "${top_builddir:=.}"

gen=$top_builddir/tools/mksizeclasses
committed=$top_srcdir/lib/sizeclasses.h
n=0
failed=0

result() { # result STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

finish() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

tmp=$(mktemp "${TMPDIR:-/tmp}/sizeclasses.XXXXXX") || {
	echo "Bail out! cannot create a temporary file"
	exit 1
}
trap 'rm -f "$tmp" "$tmp.err"' EXIT

test -x "$gen"
st=$?
result $st "the generator $gen is built"
[ $st -eq 0 ] || finish

test -r "$committed"
st=$?
result $st "the committed table $committed exists"
[ $st -eq 0 ] || finish

"$gen" >"$tmp" 2>"$tmp.err"
st=$?
result $st "the generator runs and its self-checks pass"
[ $st -eq 0 ] || diag "exit status $st" "$(cat "$tmp.err")"

test -s "$tmp.err"
result $((1 - $?)) "the generator reports no problem on stderr"

if diff -u "$committed" "$tmp" >"$tmp.err" 2>&1; then
	result 0 "lib/sizeclasses.h matches the generator's output"
else
	result 1 "lib/sizeclasses.h matches the generator's output"
	diag "$(head -n 60 "$tmp.err")"
fi

finish
