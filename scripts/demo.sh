#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds, and runs the demo on the
# embedded broker: read-model-builder (examples/README.md) with generated order events.
# Arguments go to read-model-builder (try --help); Ctrl-C stops it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
echo "Building read-model-builder (the first build takes a few minutes)..."
"$root/scripts/build.sh" read-model-builder
exec "${SLUICE_BUILD_DIR:-$root/build}/examples/read_model_builder/read-model-builder" "$@"
