#!/bin/sh
# t-symbols: libgoheap.so exports goheap_* and nothing else, at versions
# GOHEAP_0.1 and (the functions added in 0.2.0 and 0.3.0) GOHEAP_0.2 and
# GOHEAP_0.3, under the SONAME libgoheap.so.1.  TAP output.

: "${top_builddir:=.}"

so=$top_builddir/lib/.libs/libgoheap.so
public="goheap_malloc goheap_malloc_atomic goheap_calloc goheap_realloc
goheap_free goheap_usable_size goheap_base goheap_free_os_memory
goheap_read_memstats goheap_write_heapdump"
public2="goheap_set_memory_limit goheap_set_profile_rate goheap_write_heap_profile"
public3="goheap_register_weak_link goheap_unregister_weak_link goheap_move_weak_link
goheap_read_weak_link"
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

test -r "$so"
st=$?
result $st "the shared library $so is built"
[ $st -eq 0 ] || finish

# Defined dynamic symbols as "TYPE NAME", without any @VERSION suffix.
syms=$(nm -D --defined-only "$so" 2>&1)
st=$?
result $st "nm -D lists the dynamic symbols"
[ $st -eq 0 ] || { diag "$syms"; finish; }
syms=$(printf '%s\n' "$syms" | awk 'NF >= 2 { t = $(NF - 1); s = $NF;
	sub(/@.*/, "", s); print t, s }')

for f in $public $public2 $public3; do
	printf '%s\n' "$syms" | grep -q "^[Ti] $f\$"
	result $? "$f is exported as a function"
done

# The version node shows up as an absolute symbol named after it; any
# other defined symbol must be goheap_*.
foreign=$(printf '%s\n' "$syms" | awk '
	$1 == "A" && $2 ~ /^GOHEAP_[0-9.]+$/ { next }
	$2 !~ /^goheap_/ { print }')
if [ -z "$foreign" ]; then
	result 0 "every exported symbol starts with goheap_"
else
	result 1 "every exported symbol starts with goheap_"
	diag "not goheap_:" "$foreign"
fi

# Every public function carries the version node GOHEAP_0.1.
if command -v readelf >/dev/null 2>&1; then
	dyn=$(readelf --dyn-syms -W "$so" 2>&1)
	unversioned=
	for f in $public; do
		printf '%s\n' "$dyn" | grep -q " $f@@GOHEAP_0\.1\$" ||
			unversioned="$unversioned $f"
	done
	[ -z "$unversioned" ]
	result $? "the public functions have version GOHEAP_0.1"
	[ -z "$unversioned" ] || diag "without it:$unversioned"
	unversioned=
	for f in $public2; do
		printf '%s\n' "$dyn" | grep -q " $f@@GOHEAP_0\.2\$" ||
			unversioned="$unversioned $f"
	done
	[ -z "$unversioned" ]
	result $? "the functions added in 0.2.0 have version GOHEAP_0.2"
	[ -z "$unversioned" ] || diag "without it:$unversioned"
	unversioned=
	for f in $public3; do
		printf '%s\n' "$dyn" | grep -q " $f@@GOHEAP_0\.3\$" ||
			unversioned="$unversioned $f"
	done
	[ -z "$unversioned" ]
	result $? "the functions added in 0.3.0 have version GOHEAP_0.3"
	[ -z "$unversioned" ] || diag "without it:$unversioned"
	soname=$(readelf -d "$so" 2>/dev/null |
		sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
else
	soname=$(objdump -p "$so" 2>/dev/null |
		awk '$1 == "SONAME" { print $2 }')
fi
[ "$soname" = libgoheap.so.1 ]
result $? "the SONAME is libgoheap.so.1"
[ "$soname" = libgoheap.so.1 ] || diag "SONAME: '$soname'"

finish
