#!/bin/sh
# t-manpages.sh - the manual pages cover the API and render cleanly.
#
# A TAP test.  It checks that
#  1. every goheap_* function declared in include/goheap.h has a page
#     man/<function>.3;
#  2. if lib/.libs/libgoheap.so is built, every goheap_* symbol it exports
#     has such a page too;
#  3. every page in man/ is listed in Makefile.am, so that it is installed
#     and distributed: a page made by configure from man/PAGE.in (those that
#     name the release in their title) in nodist_man_MANS and in
#     configure.ac's AC_CONFIG_FILES, any other in dist_man_MANS; and every
#     page listed there exists;
#  4. every page passes "mandoc -Tlint -W warning" and "groff -ww -z -man"
#     without a message (each check is skipped if its tool is missing), the
#     pages made by configure as built in $top_builddir/man, with nothing
#     left of the form @NAME@ for configure to substitute.
#
# make check sets top_srcdir and top_builddir; run by hand, both default to
# the directory above this script:
#   top_srcdir=. top_builddir=. sh tests/t-manpages.sh
#
# The pages are linted from a scratch directory laid out like an installed
# manual (man3/, man7/), because the alias pages (goheap_free.3 ...) are one
# line, ".so man3/goheap_malloc.3", which resolves only there.  mandoc
# warns that .so is fragile for every such page; that one warning is
# expected for alias pages and ignored.

here=$(cd "$(dirname "$0")" && pwd) || exit 99
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$here/..}"

builddir=$(cd "$top_builddir" 2>/dev/null && pwd) || {
	echo "Bail out! no build directory $top_builddir"
	exit 99
}
header=$top_srcdir/include/goheap.h
mandir=$(cd "$top_srcdir/man" 2>/dev/null && pwd) || {
	echo "Bail out! no man directory in $top_srcdir"
	exit 99
}
[ -r "$header" ] || {
	echo "Bail out! cannot read $header"
	exit 99
}

# A page is man/PAGE as written, or made by configure from man/PAGE.in
# (in the build directory).
made() { test -f "$mandir/$1.in"; } # made PAGE: configure makes PAGE
have_page() { test -f "$mandir/$1" || made "$1"; }
# The file to read for PAGE.
page_file() {
	if made "$1"; then
		echo "$builddir/man/$1"
	else
		echo "$mandir/$1"
	fi
}

n=0
failed=0
ok() { # ok CONDITION-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
skip() { # skip DESCRIPTION REASON
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
diag() { # diag TEXT: print TEXT as TAP comment lines
	printf '%s\n' "$1" | sed 's/^/#   /'
}

# C source with comments blanked out, so that names mentioned in comments
# are not mistaken for declarations.
strip_comments() {
	awk '
	{
		line = $0; out = ""
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (i == 0) { line = ""; break }
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*")
				if (i == 0) { out = out line; break }
				out = out substr(line, 1, i - 1) " "
				line = substr(line, i + 2); incomment = 1
			}
		}
		sub(/\/\/.*/, "", out)
		print out
	}' "$1"
}

# --- 1. Functions declared in the header ---------------------------------
funcs=$(strip_comments "$header" |
	grep -oE '(^|[^A-Za-z0-9_])goheap_[a-z0-9_]+ *\(' |
	sed -e 's/^[^g]*//' -e 's/ *($//' | sort -u)
if [ -z "$funcs" ]; then
	ok 1 "goheap.h declares goheap_* functions"
fi
for f in $funcs; do
	have_page "$f.3"
	ok $? "goheap.h: $f has a page man/$f.3"
done

# --- 2. Symbols exported by the built library ----------------------------
so=$top_builddir/lib/.libs/libgoheap.so
if [ ! -f "$so" ]; then
	skip "exported symbols have pages" "$so not built"
elif ! command -v nm >/dev/null 2>&1; then
	skip "exported symbols have pages" "nm not installed"
else
	# nm prints "ADDRESS TYPE NAME[@@VERSION]"; version nodes are type A.
	syms=$(nm -D --defined-only "$so" |
		awk '$2 != "A" && $3 ~ /^goheap_/ { sub(/@.*/, "", $3); print $3 }' |
		sort -u)
	if [ -z "$syms" ]; then
		ok 1 "$so exports goheap_* symbols"
	fi
	for s in $syms; do
		have_page "$s.3"
		ok $? "libgoheap.so: $s has a page man/$s.3"
	done
fi

# --- 2b. The libgc.so.1 drop-in: every GC_* name of <goheap/gc.h> and
# of the built library is described in goheap-gc(3) -------------------------
gch=$top_srcdir/include/goheap/gc.h
gcpage=$(page_file goheap-gc.3)
# The page's text with groff's escaped hyphens and font changes undone.
gctext=$(sed -e 's/\\-/-/g' "$gcpage" 2>/dev/null)
gcnames=$(strip_comments "$gch" |
	grep -oE '(^|[^A-Za-z0-9_])GC_[a-z][A-Za-z0-9_]* *[(;]' |
	sed -e 's/^[^G]*//' -e 's/ *[(;]$//' | sort -u)
gcso=$top_builddir/lib/.libs/libgc.so.1
if [ -f "$gcso" ] && command -v nm >/dev/null 2>&1; then
	gcnames=$( (printf '%s\n' "$gcnames"
		nm -D --defined-only "$gcso" | awk '$3 ~ /^GC_/ { print $3 }') | sort -u)
fi
missing=
for f in $gcnames; do
	printf '%s\n' "$gctext" | grep -qE "(^|[^A-Za-z0-9_])$f([^A-Za-z0-9_]|\$)" ||
		missing="$missing $f"
done
[ -n "$gcnames" ] && [ -z "$missing" ]
ok $? "goheap-gc.3 describes every GC_* entry point of gc.h and libgc.so.1"
[ -z "$missing" ] || diag "not on the page:$missing"

# --- 3. Pages and Makefile.am agree ---------------------------------------
pages=$(cd "$mandir" && ls | sed -n 's/^\(goheap[a-z0-9_-]*\.[1-9]\)\(\.in\)\{0,1\}$/\1/p' |
	sort -u)
if [ -z "$pages" ]; then
	ok 1 "man/ holds pages"
fi
# The words of variable $1 in Makefile.am, man/ stripped.
listed_in() {
	awk -v var="$1" '$1 == var && ($2 == "=" || $2 == "+=") { f = 1 }
		f { print; if (!/\\$/) f = 0 }' "$makefile" |
		tr ' \t\\' '\n\n\n' | sed -n 's|^man/||p' | sort -u
}
makefile=$top_srcdir/Makefile.am
configure_ac=$top_srcdir/configure.ac
if [ -f "$makefile" ] && [ -f "$configure_ac" ]; then
	dist=$(listed_in dist_man_MANS)
	nodist=$(listed_in nodist_man_MANS)
	for p in $pages; do
		if made "$p"; then
			printf '%s\n' "$nodist" | grep -qxF "$p"
			ok $? "man/$p (from man/$p.in) is listed in nodist_man_MANS"
			grep -qE "(^|[[ \t])man/$p([] \t]|\$)" "$configure_ac"
			ok $? "man/$p is made by configure (AC_CONFIG_FILES in configure.ac)"
		else
			printf '%s\n' "$dist" | grep -qxF "$p"
			ok $? "man/$p is listed in dist_man_MANS"
		fi
	done
	for p in $dist; do
		test -f "$mandir/$p" && ! made "$p"
		ok $? "dist_man_MANS: man/$p exists as written"
	done
	for p in $nodist; do
		made "$p"
		ok $? "nodist_man_MANS: man/$p.in exists"
	done
else
	skip "pages are listed in Makefile.am" "no $makefile or $configure_ac"
fi

# --- 4. Every page renders without warnings ------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-manpages.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM
for p in $pages; do
	sec=${p##*.}
	mkdir -p "$tmp/man$sec"
	ln -s "$(page_file "$p")" "$tmp/man$sec/$p"
done

have_mandoc=no; command -v mandoc >/dev/null 2>&1 && have_mandoc=yes
have_groff=no; command -v groff >/dev/null 2>&1 && have_groff=yes
for p in $pages; do
	sec=${p##*.}
	page=man$sec/$p
	file=$(page_file "$p")
	if made "$p"; then
		left=$(grep -n '@[A-Za-z_][A-Za-z0-9_]*@' "$file" 2>&1)
		test -f "$file" && test -z "$left"
		ok $? "$page: configure made it from man/$p.in, substituting everything"
		[ -z "$left" ] || diag "$left"
		[ -f "$file" ] || continue
	fi
	alias=no
	if [ "$(wc -l <"$file")" -le 1 ] && grep -q '^\.so ' "$file"; then
		alias=yes
	fi

	if [ $have_mandoc = no ]; then
		skip "mandoc -Tlint $page" "mandoc not installed"
	else
		out=$(cd "$tmp" && mandoc -Tlint -W warning "$page" 2>&1)
		if [ $alias = yes ]; then
			out=$(printf '%s\n' "$out" |
				grep -v ': WARNING: \.so is fragile' || :)
		fi
		test -z "$out"
		ok $? "mandoc -Tlint -W warning $page"
		[ -z "$out" ] || diag "$out"
	fi

	if [ $have_groff = no ]; then
		skip "groff -ww -z -man $page" "groff not installed"
	else
		out=$(cd "$tmp" && groff -ww -z -man "$page" 2>&1 >/dev/null)
		st=$?
		test $st -eq 0 && test -z "$out"
		ok $? "groff -ww -z -man $page"
		[ -z "$out" ] || diag "$out"
	fi
done

echo "1..$n"
[ $failed -eq 0 ]
