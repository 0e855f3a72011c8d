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
run_ctest build/f64 "float64 build: gradient checks and the rest at double precision" -LE 'parity|accuracy'
build build/asan -DGG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest build/asan "AddressSanitizer + UndefinedBehaviorSanitizer build" -LE parity
echo "== clang build (-Wall -Wextra -Werror)"
CC=clang build build/clang -DGG_BUILD_TESTS=ON || status=1

# valgrind on a short training, an evaluation and error paths; its own
# build without -march=native, as valgrind does not emulate AVX-512.
echo "== valgrind (memcheck): training, eval and error paths"
build build/valgrind -DGG_NATIVE=OFF -DGG_BUILD_TESTS=OFF
vg() { # NAME EXPECTED-STATUS ARGS...
    local name=$1 want=$2; shift 2
    local got=0 # set -e would stop the script at the expected non-zero statuses
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        build/valgrind/gradguard "$@" >/dev/null 2>build/valgrind/$name.log || got=$?
    if [ $got -eq "$want" ]; then echo "ok   valgrind $name"; else
        echo "FAIL valgrind $name: exit $got, expected $want"; cat build/valgrind/$name.log; status=1; fi
}
vgrun=build/valgrind/run
rm -rf "$vgrun"
vg train 0 train configs/xor.yaml --steps 300 --out "$vgrun" --quiet
vg eval 0 eval "$vgrun"
vg train_adam_ce 0 train --set data.dataset=random-binary --set data.validation=0 --set model.input=[10] \
    --set 'model.layers=[{dense: {units: 8}}, relu, {dense: {units: 2}}]' --set guard.monitor.every=1 \
    --steps 100 --out "$vgrun-ce" --quiet
vg bad_config 2 train --set optimiser.lr=1
vg bad_data 2 train --set data.dataset=idx:/nonexistent --out "$vgrun-bad"
vg bad_init 2 train configs/xor.yaml --init build/valgrind/CMakeCache.txt --out "$vgrun-bad"
# Every error path of the bad-input suite under valgrind.
if GG_VALGRIND_BIN=$PWD/build/valgrind/gradguard GG_BIN=$PWD/tests/cli/valgrind_gradguard.sh \
    bash tests/cli/test_bad_input.sh >build/valgrind/bad_input.log 2>&1; then
    echo "ok   valgrind: every bad-input case ($(tail -1 build/valgrind/bad_input.log))"
else
    echo "FAIL valgrind: bad-input cases"; cat build/valgrind/bad_input.log; status=1
fi

# libFuzzer on the file and config readers, about 30 s per harness, then the
# replay of every input that once crashed (scripts/fuzz.sh).
GG_FUZZ_SECONDS=30 ./scripts/fuzz.sh || status=1

if [ $status -ne 0 ]; then echo "FAILED"; exit 1; fi
echo "all test suites passed"
