#!/bin/bash
# Quick start, part 1: build libgoheap and run the demo program under load.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/build.sh"
cd "$top/build"
exec ./examples/demo "$@"
