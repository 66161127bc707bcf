#!/bin/sh
# t-version.sh - every place that names the release agrees with configure.
#
# A TAP test.  The release is written by hand once, in AC_INIT of
# configure.ac; configure copies it into the rest.  It checks that
#  1. configure's PACKAGE_VERSION (config.h) is AC_INIT's version, i.e.
#     configure was remade after configure.ac changed, and has the form
#     MAJOR.MINOR.PATCH;
#  2. a program that includes <goheap.h> from the build sees GOHEAP_VERSION
#     = MAJOR * 10000 + MINOR * 100 + PATCH, and goheap.h does not define
#     it itself;
#  3. every manual page says "libgoheap PACKAGE_VERSION" in its title
#     (.TH), and goheap(7)'s VERSIONS section names the release and its
#     GOHEAP_VERSION;
#  4. goheap.pc says Version: PACKAGE_VERSION;
#  5. NEWS's first "* Noteworthy changes in release X" heading is for
#     PACKAGE_VERSION;
#  6. debian/changelog's top entry (where the tree has debian/: release
#     tarballs do not) is for upstream version PACKAGE_VERSION, as in
#     "libgoheap (PACKAGE_VERSION-1) unstable; ...": an optional epoch
#     ("1:") and the Debian revision after the last "-" are ignored.
#
# Between a bump of AC_INIT and the packaging's entry for it, check 6 is
# skipped, not failed, when debian/changelog's top entry is exactly
# changelog_pending below (the previous release's); any other mismatch
# fails.  Whoever adds the new entry empties changelog_pending, which makes
# the check strict again.
#
# make check sets top_srcdir, top_builddir and CC; run by hand, the
# directories default to the one above this script and CC to cc:
#   top_srcdir=.. top_builddir=. sh ../tests/t-version.sh

here=$(cd "$(dirname "$0")" && pwd) || exit 99
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$here/..}"
: "${CC:=cc}"
# The top entry of debian/changelog while the new release's is pending, or
# empty: see above.
changelog_pending=

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
# is GOT WANT DESCRIPTION: a check that two strings are equal.
is() {
	test "$1" = "$2"
	ok $? "$3"
	[ "$1" = "$2" ] || diag "got: '$1'
expected: '$2'"
}

# --- 1. configure ------------------------------------------------------------
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h" 2>/dev/null)
if [ -z "$version" ]; then
	echo "Bail out! no PACKAGE_VERSION in $top_builddir/config.h (not configured?)"
	exit 99
fi
init=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
is "$version" "$init" "configure's PACKAGE_VERSION is configure.ac's AC_INIT version"
major=${version%%.*}
minor=${version#*.}
minor=${minor%.*}
patch=${version##*.}
printf '%s\n' "$version" | grep -qE '^[0-9]+\.[0-9]{1,2}\.[0-9]{1,2}$'
ok $? "PACKAGE_VERSION $version is MAJOR.MINOR.PATCH with MINOR and PATCH below 100"
# shellcheck disable=SC2003 # expr: a part "08" is 8, not a bad octal number
number=$(expr "$major" \* 10000 + "$minor" \* 100 + "$patch" 2>/dev/null)

# --- 2. GOHEAP_VERSION as a program sees it ----------------------------------
got=$(echo '#include <goheap.h>' |
	$CC -E -dM -I"$top_builddir/include" -I"$top_srcdir/include" -x c - 2>&1 |
	sed -n 's/^#define GOHEAP_VERSION //p')
is "$got" "$number" "GOHEAP_VERSION in the built <goheap.h> is $version as MAJOR*10000+MINOR*100+PATCH"
! grep -qE '^[ \t]*#[ \t]*define[ \t]+GOHEAP_VERSION([ \t]|$)' "$top_srcdir/include/goheap.h"
ok $? "include/goheap.h takes GOHEAP_VERSION from configure, does not define it"

# --- 3. The manual pages ------------------------------------------------------
# Those made by configure from man/PAGE.in as built, the others as written.
for f in "$top_srcdir"/man/*.[1-9] "$top_srcdir"/man/*.[1-9].in; do
	[ -f "$f" ] || continue
	p=${f##*/}
	p=${p%.in}
	[ "$p" = "${f##*/}" ] || f=$top_builddir/man/$p
	th=$(grep -m1 '^\.TH ' "$f" 2>/dev/null) || continue # an alias (.so)
	# .TH TITLE SECTION DATE "SOURCE" "MANUAL": SOURCE is the 2nd "..." field.
	src=$(printf '%s\n' "$th" | awk -F'"' '{ print $2 }')
	is "$src" "libgoheap $version" "man/$p's title says libgoheap $version"
done
f=$top_builddir/man/goheap.7
grep -qF "describes \\%libgoheap $version." "$f" 2>/dev/null
ok $? "goheap(7)'s VERSIONS section describes libgoheap $version"
sed -n '/^\.SH VERSIONS/,/^\.SH /p' "$f" 2>/dev/null | grep -qE "(^|[^0-9])$number for this one"
ok $? "goheap(7)'s VERSIONS section gives GOHEAP_VERSION $number"

# --- 4. goheap.pc -------------------------------------------------------------
got=$(sed -n 's/^Version: *//p' "$top_builddir/goheap.pc" 2>/dev/null)
is "$got" "$version" "goheap.pc says Version: $version"

# --- 5. NEWS ------------------------------------------------------------------
got=$(sed -n 's/^\* Noteworthy changes in release \([^ ]*\).*/\1/p' "$top_srcdir/NEWS" 2>/dev/null | head -1)
is "$got" "$version" "NEWS opens with the changes in release $version"

# --- 6. debian/changelog ------------------------------------------------------
changelog=$top_srcdir/debian/changelog
if [ ! -f "$changelog" ]; then
	skip "debian/changelog's top entry is for $version" "no debian/changelog (a release tarball)"
else
	deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$changelog")
	upstream=${deb#*:}
	upstream=${upstream%-*}
	if [ "$upstream" != "$version" ] && [ -n "$changelog_pending" ] &&
		[ "$deb" = "$changelog_pending" ]; then
		skip "debian/changelog's top entry is for $version" \
			"its top entry is $deb, not $version-N: the $version entry is pending (then empty changelog_pending in tests/t-version.sh)"
	else
		is "$upstream" "$version" "debian/changelog's top entry ($deb) is for upstream version $version"
	fi
fi

echo "1..$n"
[ $failed -eq 0 ]
