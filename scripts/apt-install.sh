#!/bin/bash
# apt-install.sh - the one place scripts/ and .ci/ install packages from
# (Debian 12, apt-get).
#
#   apt-install.sh PACKAGE...       install those of PACKAGE... missing
#   apt-install.sh --build-dep DIR  install what the source package in DIR
#                                   build-depends on (debian/control), if
#                                   dpkg-checkbuilddeps finds it missing
#
# As root, or through "sudo -n".  Quiet when there is nothing to do; else
# one line "apt-install: installing ..." on stderr, and on failure the end
# of apt-get's output there too, and exit status 1.  Waits up to ten
# minutes for another apt-get or dpkg to release its lock rather than
# failing at once.  Reads no standard input.
set -uo pipefail
exec </dev/null

mode=packages
if [ "${1-}" = --build-dep ]; then
	mode=build-dep
	dir=${2:?apt-install.sh: --build-dep needs a directory}
	(cd "$dir" && dpkg-checkbuilddeps) >/dev/null 2>&1 && exit 0
	what="the build dependencies of $dir"
else
	missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]})) || exit 0
	what=${missing[*]}
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "apt-install: not root and no sudo: cannot install $what" >&2
		exit 1
	fi
	sudo=(sudo -n)
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)

echo "apt-install: installing $what" >&2
log=$(mktemp "${TMPDIR:-/tmp}/apt-install.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
{
	"${apt[@]}" update -qq &&
		if [ $mode = build-dep ]; then
			"${apt[@]}" build-dep -y -qq --no-install-recommends "$dir" &&
				(cd "$dir" && dpkg-checkbuilddeps)
		else
			"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
		fi
} >"$log" 2>&1 || {
	tail -n 30 "$log" | sed 's/^/apt-install: /' >&2
	exit 1
}
exit 0
