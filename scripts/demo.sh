#!/usr/bin/env bash
# Installs what is missing, builds gradguard, and trains the default model
# (an MLP on Fashion-MNIST, guard on); prints the test accuracy, the run
# directory and the path of its HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
gg_install $GG_PACKAGES_BUILD

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DGG_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target gradguard_cli >/dev/null
out=runs/demo-$(date +%Y%m%d-%H%M%S)
./build/release/gradguard train --out "$out" "$@"
echo "run directory: $out"
echo "report: $out/report.html"
