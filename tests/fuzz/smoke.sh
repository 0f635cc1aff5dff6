#!/bin/sh
# The fuzz smoke test (make fuzz-smoke): builds every libFuzzer target
# (make fuzz-build), runs each once over every input of
# tests/fuzz/regressions/NAME/ (crashes found and fixed: each must pass),
# then FUZZ_SMOKE_RUNS executions (default 50000, seed 1: the same inputs
# every time) over the committed corpus: the seeds in tests/fuzz/corpus/NAME/
# and what long runs learned, tests/fuzz/learned/NAME/ (make fuzz-learn).
# New inputs go to a scratch directory, crash inputs to
# $BUILD/fuzz/smoke/artifacts/.
# Ends with "fuzz: N targets, M executions, K crashes"; exit 1 on a crash.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
RUNS=${FUZZ_SMOKE_RUNS:-50000}
OUT=$BUILD/fuzz/smoke

if ! make -s --no-print-directory BUILD="$BUILD" fuzz-build; then
	echo "fuzz: the targets do not build"
	exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/artifacts"
targets=0
execs=0
crashes=0

# A libFuzzer run that failed: say which, show the report.
failed() {
	echo "FAIL fuzz_$1: $2 (log $3)"
	grep -E 'ERROR|SUMMARY|runtime error|property does not hold|Test unit written|^==' "$3" | head -20 | sed 's/^/  # /'
	crashes=$((crashes + 1))
}

for bin in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	name=${bin##*/fuzz_}
	targets=$((targets + 1))
	reg=tests/fuzz/regressions/$name
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		log=$OUT/$name-regressions.log
		if "$bin" -timeout=10 -artifact_prefix="$OUT/artifacts/$name-" "$reg"/* >"$log" 2>&1; then
			n=$(grep -c '^Executed ' "$log")
			execs=$((execs + n))
			echo "PASS fuzz_$name regressions: $n inputs"
		else
			failed "$name" "a regression input crashes" "$log"
		fi
	fi
	log=$OUT/$name.log
	mkdir -p "$OUT/new-$name"
	dirs="tests/fuzz/corpus/$name"
	[ -d "tests/fuzz/learned/$name" ] && dirs="$dirs tests/fuzz/learned/$name"
	# shellcheck disable=SC2086 # $dirs: one or two directories, no spaces
	if "$bin" -runs="$RUNS" -seed=1 -timeout=10 -artifact_prefix="$OUT/artifacts/$name-" \
		"$OUT/new-$name" $dirs >"$log" 2>&1; then
		n=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
		execs=$((execs + ${n:-0}))
		# shellcheck disable=SC2086
		echo "PASS fuzz_$name: ${n:-0} executions over $(ls $dirs | grep -vc ':$') corpus inputs"
	else
		failed "$name" "crash" "$log"
	fi
done
echo "fuzz: $targets targets, $execs executions, $crashes crashes"
[ "$crashes" -eq 0 ] && [ "$targets" -gt 0 ]
