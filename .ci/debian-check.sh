#!/bin/bash
# .ci/debian-check.sh - build libgoheap's Debian packages and check them.
#
# Run from anywhere in a clone, as root, on Debian 12:
#     bash .ci/debian-check.sh
# It
#  1. installs what building the packages needs, if missing
#     (scripts/apt-install.sh);
#  2. copies the tree to a temporary directory, so that the clone stays clean
#     (with git: the tracked files and the untracked ones that .gitignore
#     does not exclude, as a fresh clone plus local changes would have);
#  3. builds the binary packages there with dpkg-buildpackage -us -uc -b,
#     which also runs "make check";
#  4. checks that debian/libgoheap1.symbols lists exactly the symbols that
#     the built libgoheap.so.1 exports (dpkg-gensymbols -c4; on a mismatch it
#     prints the diff: see debian/README.source to refresh the file);
#  5. runs lintian on the .changes: any error or warning fails (justified
#     ones are overridden in debian/*.lintian-overrides);
#  6. installs the .debs with apt-get;
#  7. runs each test of debian/tests/control (autopkgtest) against the
#     installed packages, from an unbuilt copy of the tree, directly rather
#     than through the autopkgtest tool;
#  8. removes the installed packages again (set DEBIAN_CHECK_KEEP=1 to keep
#     them and the temporary directory).
# Prints "ok N - CHECK" or "not ok N - CHECK" per check and a last line
# "N passed, N failed"; exits 1 if any check failed.  Needs no standard
# input (CI=true is fine) and takes about two minutes.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
keep=${DEBIAN_CHECK_KEEP:-0}
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

# passed, failed and totals.
. "$top/scripts/tally.sh"
n=0
check() { # check STATUS NAME [COMMENT]: record one check's result
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok $n - $2${3:+ # $3}"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2${3:+ # $3}"
	fi
}
finish() {
	echo "1..$n"
	totals && exit 0
	exit 1
}
# Print a file's lines indented, as TAP diagnostics.
diag() { sed 's/^/#   /' "$@"; }

SUDO=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo -n"
	else
		echo "# debian-check: must run as root (or with sudo)" >&2
		check 1 "dependencies installed" "not root"
		finish
	fi
fi

# --- 1. What the build and the checks need ---------------------------------
deps_ok=0
# mmv: what the autopkgtests of debian/tests/control depend on besides the
# packages built here (step 7 runs them without the autopkgtest tool).
bash "$top/scripts/apt-install.sh" build-essential debhelper dh-autoreconf devscripts \
	dpkg-dev fakeroot lintian pkg-config autoconf automake libtool mmv || deps_ok=1

# --- 2. A copy of the tree -------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/debian-check.XXXXXX") || exit 1
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
src=$tmp/build/libgoheap
tests_src=$tmp/tests/libgoheap
mkdir -p "$src" "$tests_src"
copy_tree() { # copy_tree DEST
	if command -v git >/dev/null 2>&1 && git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$top" ls-files -z -c -o --exclude-standard |
			tar -C "$top" --null -T - --ignore-failed-read -cf - 2>/dev/null |
			tar -C "$1" -xf -
	else
		tar -C "$top" --exclude=.git -cf - . | tar -C "$1" -xf -
	fi
}
if ! copy_tree "$src" || ! copy_tree "$tests_src"; then
	echo "# cannot copy $top to $tmp" >&2
	deps_ok=1
fi

# Anything missing from Build-Depends that the list above lacks (someone
# added a build dependency): let apt work it out from debian/control.
[ $deps_ok != 0 ] || bash "$top/scripts/apt-install.sh" --build-dep "$src" || deps_ok=1
check $deps_ok "build dependencies installed"
[ $deps_ok = 0 ] || finish

# --- 3. Build ----------------------------------------------------------------
version=$(cd "$src" && dpkg-parsechangelog -SVersion)
upstream_version=${version%-*}
echo "# building libgoheap $version in $src"
build_ok=0
(cd "$src" && timeout 480 dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || build_ok=1
if [ $build_ok != 0 ]; then
	if grep -q 'dh_auto_test: error' "$tmp/build.log" && [ -f "$src/test-suite.log" ]; then
		# make check failed: the failed tests and their failed checks.
		echo "# dpkg-buildpackage failed in make check; from test-suite.log:"
		grep -E '^(# )?(TOTAL|PASS|FAIL|ERROR|XPASS|SKIP):|^not ok|^#  ' \
			"$src/test-suite.log" | grep -vE '^PASS: ' | head -n 60 | diag
	elif grep -q '^dpkg-gensymbols: error' "$tmp/build.log"; then
		echo "# dpkg-buildpackage failed in dh_makeshlibs; dpkg-gensymbols says:"
		sed -n '/^dpkg-gensymbols:/,$p' "$tmp/build.log" | diag
	else
		# Compiler and make errors with a little context, then the end.
		echo "# dpkg-buildpackage failed; the errors in its log:"
		grep -E -B1 -A4 'error:|error [0-9]|\*\*\*|^dh_missing: warning' "$tmp/build.log" |
			grep -vE '^(libtool: compile: |/bin/bash \./libtool )' | head -n 60 | diag
		echo "# the end of its log:"
		tail -n 6 "$tmp/build.log" | diag
	fi
	if grep -q '^dh_missing: error' "$tmp/build.log"; then
		echo "# hint: make install installed a file that no package takes (the"
		echo "# dh_missing warnings above name it): add it to the .install file"
		echo "# of its package, or to debian/not-installed (debian/README.source)."
	fi
	if grep -q 'symbols or patterns disappeared' "$tmp/build.log"; then
		echo "# hint: debian/libgoheap1.symbols lists a symbol the library no longer"
		echo "# exports (an ABI break); see debian/README.source."
	fi
fi
check $build_ok "dpkg-buildpackage -us -uc -b"
debs=()
if [ $build_ok = 0 ]; then
	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	for p in libgoheap1 libgoheap-gc1 libgoheap-dev goheap-tools; do
		f=$tmp/build/${p}_${version}_$arch.deb
		[ -f "$f" ] && debs+=("$f")
	done
	echo "# built: ${debs[*]##*/}"
fi

# --- 4. Symbols file ---------------------------------------------------------
if [ $build_ok = 0 ]; then
	# -c4: any difference, new symbols included, fails and prints the diff.
	sym_ok=0
	(cd "$src" && dpkg-gensymbols -plibgoheap1 -Pdebian/libgoheap1 \
		-v"$upstream_version" -c4 -O"$tmp/libgoheap1.symbols.new") \
		>"$tmp/symbols.log" 2>&1 || sym_ok=1
	if [ $sym_ok != 0 ]; then
		echo "# debian/libgoheap1.symbols is out of date; dpkg-gensymbols says:"
		diag "$tmp/symbols.log"
		echo "# refresh it as debian/README.source says (new symbols take the"
		echo "# upstream version that first has them, here $upstream_version)."
	fi
	check $sym_ok "debian/libgoheap1.symbols matches the built library"
else
	check 1 "debian/libgoheap1.symbols matches the built library" "not run: no build"
fi

# --- 5. Lintian ----------------------------------------------------------------
if [ $build_ok = 0 ]; then
	lintian_ok=0
	changes=$tmp/build/libgoheap_${version}_${arch}.changes
	# -I: info tags too; --show-overrides: the overridden tags as "O:"
	# lines.  Lintian then counts those for --fail-on too, so the verdict
	# comes from the output: any E: or W: line fails.  TMPDIR: lintian
	# leaves mldbm-* files behind in it.
	TMPDIR=$tmp lintian -I --show-overrides --fail-on none "$changes" \
		>"$tmp/lintian.log" 2>&1 || lintian_ok=1
	grep -v 'running with root privileges is not recommended' "$tmp/lintian.log" \
		>"$tmp/lintian.tags"
	! grep -qE '^[EW]: ' "$tmp/lintian.tags" || lintian_ok=1
	if [ -s "$tmp/lintian.tags" ]; then
		sed 's/^/# lintian: /' "$tmp/lintian.tags"
	else
		echo "# lintian: no tags"
	fi
	check $lintian_ok "lintian (no errors or warnings)"
else
	check 1 "lintian (no errors or warnings)" "not run: no build"
fi

# --- 6. Install ----------------------------------------------------------------
install_ok=1
if [ $build_ok = 0 ]; then
	install_ok=0
	# --reinstall: a same-version package left by an earlier run is replaced.
	$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --reinstall \
		--no-install-recommends "${debs[@]}" >"$tmp/install.log" 2>&1 || install_ok=1
	[ $install_ok = 0 ] || diag "$tmp/install.log" | tail -30
	check $install_ok "apt-get install ${debs[*]##*/}"
else
	check 1 "apt-get install the packages" "not run: no build"
fi

# --- 7. The autopkgtests, against the installed packages ---------------------
# From debian/tests/control: one "NAME<TAB>RESTRICTIONS" line per test.
tests=$(awk '
	function flush() { if (t != "") { n = split(t, a, /[ ,]+/); for (i = 1; i <= n; i++) if (a[i] != "") print a[i] "\t" r } t = ""; r = "" }
	/^#/ { next }
	/^[ \t]*$/ { flush(); field = ""; next }
	/^Tests:/ { sub(/^Tests:[ \t]*/, ""); t = $0; field = "t"; next }
	/^Restrictions:/ { sub(/^Restrictions:[ \t]*/, ""); r = $0; field = "r"; next }
	/^[A-Za-z-]+:/ { field = ""; next }
	/^[ \t]/ { if (field == "t") t = t " " $0; else if (field == "r") r = r " " $0 }
	END { flush() }' "$tests_src/debian/tests/control" 2>/dev/null)
if [ -z "$tests" ]; then
	check 1 "autopkgtest: debian/tests/control names tests"
fi
while IFS=$'\t' read -r name restrictions; do
	[ -n "$name" ] || continue
	if [ $install_ok != 0 ]; then
		check 1 "autopkgtest $name" "not run: packages not installed"
		continue
	fi
	script=debian/tests/$name
	t_ok=0
	mkdir -p "$tmp/autopkgtest/$name"
	out=$tmp/autopkgtest/$name.out err=$tmp/autopkgtest/$name.err
	if [ ! -x "$tests_src/$script" ]; then
		echo "$script is missing or not executable" >"$err"
		: >"$out"
		t_ok=1
	else
		(cd "$tests_src" && AUTOPKGTEST_TMP=$tmp/autopkgtest/$name \
			timeout 300 "./$script") >"$out" 2>"$err" || t_ok=1
	fi
	sed "s/^/# $name: /" "$out"
	if [ -s "$err" ]; then
		sed "s/^/# $name (stderr): /" "$err"
		case " $restrictions " in
		*[\ ,]allow-stderr[\ ,]*) ;;
		*) [ $t_ok = 0 ] && echo "# $name wrote to stderr without allow-stderr"
			t_ok=1 ;;
		esac
	fi
	check $t_ok "autopkgtest $name"
done <<<"$tests"

# --- 8. Leave the machine as it was --------------------------------------------
if [ $install_ok = 0 ] && [ "$keep" != 1 ]; then
	pkgs=()
	for d in "${debs[@]}"; do
		d=${d##*/}
		pkgs+=("${d%%_*}")
	done
	$SUDO apt-get -o DPkg::Lock::Timeout=600 purge -y -q "${pkgs[@]}" >/dev/null 2>&1 ||
		echo "# warning: could not remove ${pkgs[*]}"
fi

finish
