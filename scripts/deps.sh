#!/bin/bash
# Install what building and testing libgoheap needs, if it is missing.
# Debian 12; run as root (or with sudo available).
set -euo pipefail
pkgs=(build-essential autoconf automake libtool pkg-config valgrind mandoc groff-base
	python3 util-linux golang-go libunwind8 "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
