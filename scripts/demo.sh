#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds, and runs the demo on the
# embedded broker. Arguments go to sluice-demo (try --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
echo "Building sluice-demo (the first build takes a few minutes)..."
"$root/scripts/build.sh" sluice-demo
exec "${SLUICE_BUILD_DIR:-$root/build}/examples/order_router/sluice-demo" "$@"
