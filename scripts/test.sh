#!/usr/bin/env bash
# Quick start, command 2: installs what is missing, builds everything, and runs the test
# suite (unit, integration, crash and install tests). Benchmarks (CTest label `bench`)
# and long soaks (label `soak`) are left out; run them with `ctest -L bench`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SLUICE_BUILD_DIR:-$root/build}"
"$root/scripts/deps.sh"
echo "Building Sluice and its tests (the first build takes several minutes)..."
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -LE 'bench|soak' -j "${SLUICE_TEST_JOBS:-2}" --timeout 600
