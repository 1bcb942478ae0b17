#!/usr/bin/env bash
# scripts/fuzz.sh BIN...: runs each libFuzzer target for $FUZZ_SECONDS (60)
# on fuzz/corpus/<name> (seeds and regression inputs, read only: new inputs
# go to a scratch corpus under $FUZZ_DIR), two at a time; fails if any
# target crashed, leaked or timed out, with the input kept under
# $FUZZ_DIR/artifacts/.  Called by `make fuzz`.
set -u
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
JOBS=${FUZZ_JOBS:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
mkdir -p "$FUZZ_DIR/artifacts" "$FUZZ_DIR/logs" "$FUZZ_DIR/work"

one() { # one BIN: 0 if it ran its time without a finding
	local bin=$1 name work seeds log rc
	name=$(basename "$bin")
	seeds=fuzz/corpus/$name
	work=$FUZZ_DIR/work/$name
	log=$FUZZ_DIR/logs/$name.log
	mkdir -p "$work" "$seeds"
	# every committed input once first: the regression inputs must pass
	if ! "$bin" -runs=0 "$seeds" >"$log" 2>&1; then
		echo "not ok - $name: a committed input fails (see $log)"
		tail -30 "$log" | sed 's/^/# /'
		return 1
	fi
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$name-" \
		"$work" "$seeds" >>"$log" 2>&1
	rc=$?
	local runs
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
	if [ $rc -ne 0 ]; then
		echo "not ok - $name: exit $rc after ${runs:-?} runs (see $log)"
		grep -E 'ERROR:|SUMMARY:|Test unit written' "$log" | head -5 | sed 's/^/# /'
		return 1
	fi
	echo "ok - $name: ${runs:-?} runs in ${FUZZ_SECONDS} s, $(find "$seeds" -type f | wc -l) seeds"
}

pids=() names=() fail=0 pass=0
for bin in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	one "$bin" >"$FUZZ_DIR/logs/$(basename "$bin").result" &
	pids+=($!) names+=("$(basename "$bin")")
done
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	cat "$FUZZ_DIR/logs/${names[$i]}.result"
done
echo "fuzz: $pass targets clean, $fail with findings"
[ "$fail" -eq 0 ]
