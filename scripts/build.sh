#!/bin/bash
# Configure and build libgoheap in build/ (out of tree), warnings as errors.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi >/dev/null
mkdir -p build
cd build
[ -f Makefile ] && [ Makefile -nt ../Makefile.am ] && [ Makefile -nt ../configure ] ||
	../configure -q --enable-werror
make -s -j"$(nproc)"
