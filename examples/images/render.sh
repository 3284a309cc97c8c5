#!/usr/bin/env bash
# Redraws the topology pictures of examples/README.md from the programs themselves
# (needs graphviz: apt-get install graphviz). Run after changing a topology.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${SLUICE_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" read-model-builder
"$build/examples/read_model_builder/read-model-builder" --print-topology dot |
  dot -Grankdir=TB -Tsvg -o "$root/examples/images/read-model-builder.svg"
"$root/scripts/build.sh" order-stock-saga
"$build/examples/order_stock_saga/order-stock-saga" --print-topology dot |
  dot -Grankdir=TB -Tsvg -o "$root/examples/images/order-stock-saga.svg"
