#!/usr/bin/env bash
# make demo: start the bundled demo workload (Python calling a small C
# extension, zlib and hashlib), profile it for 10 s into demo.folded, and
# print its five heaviest stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3.11
EXT=build/ext/demo
SECONDS_TO_PROFILE=${DEMO_SECONDS:-10}

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo: run as root (BPF needs it): sudo make demo" >&2
	exit 1
fi
sh tests/ext/build.sh "$PY" "$EXT"
"$PY" tests/workloads/demo.py --ext-dir "$EXT" > build/demo.stdout 2>/dev/null &
wl=$!
trap 'kill $wl 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q READY build/demo.stdout 2>/dev/null && break
	sleep 0.1
done
grep -q READY build/demo.stdout || { echo "make demo: the demo workload did not start" >&2; exit 1; }

echo "profiling the demo workload (PID $wl) for $SECONDS_TO_PROFILE s..."
build/pybpfprof --pid "$wl" --seconds "$SECONDS_TO_PROFILE" --output demo.folded
echo
echo "wrote demo.folded ($(wc -l < demo.folded) distinct stacks). The five heaviest:"
awk '{n=$NF; sub(/ [0-9]+$/, ""); print n "\t" $0}' demo.folded | sort -rn | head -5 || true
echo
echo "Draw it with any FlameGraph tool, e.g.: flamegraph.pl --colors=java demo.folded > demo.svg"
