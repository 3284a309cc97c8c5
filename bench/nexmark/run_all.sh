#!/usr/bin/env bash
# Runs every Nexmark query through sluice-nexmark, each in its own process (so that peak
# RSS is that query's), merges the JSON results, and draws the plot.
#
#   bash bench/nexmark/run_all.sh [OUT_DIR] [-- sluice-nexmark options...]
#   bash bench/nexmark/run_all.sh /tmp/nexmark -- --events 1000000
#   bash bench/nexmark/run_all.sh /tmp/nexmark-kafka -- --mode kafka --events 200000
#
# Writes OUT_DIR/results.json, OUT_DIR/results.txt (the table as printed) and
# OUT_DIR/nexmark.svg (with the JSON files already in OUT_DIR). The build is
# $SLUICE_BUILD_DIR, else build/; QUERIES="q0 q5" runs only those.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${SLUICE_BUILD_DIR:-$root/build}"
out="${1:-nexmark-results}"
shift || true
[ "${1:-}" = "--" ] && shift
bin="$build/bench/nexmark/sluice-nexmark"
[ -x "$bin" ] || { echo "run_all.sh: build sluice-nexmark first (cmake --build $build --target sluice-nexmark)" >&2; exit 1; }
mkdir -p "$out"
: > "$out/results.txt"
queries="${QUERIES:-$("$bin" --help 2>&1 | sed -n 's/^  --query Q *one of://p')}"
failed=()
for q in $queries; do
  # A query whose results differ from the reference still writes its JSON; go on.
  "$bin" --query "$q" --json "$out/$q.json" "$@" | tee -a "$out/results.txt" || failed+=("$q")
done
queries=$(cd "$out" && for q in $("$bin" --help 2>&1 | sed -n 's/^  --query Q *one of://p'); do
  [ -f "$q.json" ] && echo "$q"; done)
python3 - "$out" $queries <<'PY'
import json, sys
out, queries = sys.argv[1], sys.argv[2:]
rows = []
for q in queries:
    with open(f"{out}/{q}.json") as f:
        rows += json.load(f)
with open(f"{out}/results.json", "w") as f:
    json.dump(rows, f, indent=2)
PY
python3 "$root/bench/nexmark/plot.py" "$out/results.json" -o "$out/nexmark.svg"
echo "run_all.sh: $out/results.json, $out/results.txt, $out/nexmark.svg"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_all.sh: failed or differed from the reference: ${failed[*]}" >&2
  exit 1
fi
