#!/bin/bash
# Quick start, part 1: build libgoheap, run the demo program under load in
# the background, and watch its heap from outside with goheap-stat, one
# sample a second, until it ends.  Usage: demo.sh [SECONDS [THREADS]]
# (default 10 s, 2 threads).  The demo's own output goes to build/demo.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/build.sh"
cd "$top/build"
seconds=${1:-10}
threads=${2:-2}
./examples/demo "$seconds" "$threads" >demo.log 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || :' INT TERM
# The demo's stats file appears as soon as libgoheap is loaded.
for _ in $(seq 50); do
	./tools/goheap-stat "$pid" >/dev/null 2>&1 && break
	sleep 0.1
done
echo "goheap-stat $pid 1 $seconds   (the demo's own output: build/demo.log)"
./tools/goheap-stat "$pid" 1 "$seconds" || :
wait "$pid"
