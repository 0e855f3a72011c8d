#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test: the float
# build (unit, CLI and PyTorch parity tests), the float64 build (gradient
# checks at 1e-6), an AddressSanitizer + UBSan build, and a clang build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
gg_install $GG_PACKAGES_BUILD $GG_PACKAGES_TEST

jobs=$(nproc)
build() { # dir, extra cmake args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
}
status=0
run_ctest() { # dir, label
    echo "== $2"
    (cd "$1" && ctest --output-on-failure -j "$jobs" "${@:3}") || status=1
}

build build/release
run_ctest build/release "float build: unit, CLI and PyTorch parity tests"
build build/f64 -DGG_FLOAT64=ON
run_ctest build/f64 "float64 build: gradient checks" -LE parity
build build/asan -DGG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest build/asan "AddressSanitizer + UndefinedBehaviorSanitizer build" -LE parity
echo "== clang build (-Wall -Wextra -Werror)"
CC=clang build build/clang -DGG_BUILD_TESTS=ON || status=1

if [ $status -ne 0 ]; then echo "FAILED"; exit 1; fi
echo "all test suites passed"
