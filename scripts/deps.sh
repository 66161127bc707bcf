#!/bin/bash
# What building and testing libgoheap needs on Debian 12, installed with
# scripts/apt-install.sh if missing, and any packages given as arguments:
#     deps.sh [PACKAGE...]
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" build-essential autoconf automake libtool \
	pkg-config valgrind mandoc groff-base python3 util-linux golang-go libunwind8 "$@"
