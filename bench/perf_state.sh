#!/bin/sh
# Profiles one side of state_bench with perf, measuring only its timed part (not input
# generation or warm-up). Usage: bench/perf_state.sh BUILD_DIR SIDE [state_bench flags...]
#   SIDE: count-on, count-off, count-rocks, count-map, sum-*, restore-distinct, restore-zipf
# Writes perf-<side>.data in the current directory and prints the top symbols.
set -eu
build=$1; side=$2; shift 2
fifo=$(mktemp -u /tmp/state-bench-perf.XXXXXX)
mkfifo "$fifo"
trap 'rm -f "$fifo"' EXIT
perf record -g -D -1 --control "fifo:$fifo" -o "perf-$side.data" \
  "$build/bench/state_bench" --profile="$side" --perf-fifo="$fifo" "$@"
perf report -i "perf-$side.data" --no-children --percent-limit 1 --stdio -g none \
  --comm state_bench 2>/dev/null | grep -E '^ +[0-9]' | cut -c1-180
