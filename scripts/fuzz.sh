#!/usr/bin/env bash
# Fuzzes the file and config readers: builds the libFuzzer harnesses of
# tests/fuzz (build/fuzz: clang, -DGG_FUZZ=ON), runs each for GG_FUZZ_SECONDS
# (30) on a scratch copy of its seed corpus and regressions, one at a time,
# then replays every regression and seed input (ctest -L fuzz). Exits non-zero
# on any crash, leak, timeout or OOM, naming the input that caused it; copy
# that file into tests/fuzz/regressions/NAME/ once the bug is fixed.
#   scripts/fuzz.sh [--keep-corpus] [NAME...]
# NAME: idx csv safetensors qmodel config config_set (default: all). --keep-corpus
# merges the inputs that found new coverage into tests/fuzz/corpus/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
names=()
for a in "$@"; do
    case $a in
    --keep-corpus) keep=1 ;;
    idx | csv | safetensors | qmodel | config | config_set) names+=("$a") ;;
    *) echo "usage: scripts/fuzz.sh [--keep-corpus] [idx|csv|safetensors|qmodel|config|config_set]..." >&2
       exit 2 ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(idx csv safetensors qmodel config config_set)
seconds=${GG_FUZZ_SECONDS:-30}

. scripts/deps.sh
gg_install $GG_PACKAGES_BUILD clang libclang-rt-14-dev

dir=build/fuzz
echo "== fuzz: building $dir (clang, libFuzzer + ASan + UBSan)"
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DGG_FUZZ=ON -DGG_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" --target fuzz -j "$(nproc)" >/dev/null

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1
# Fuzzing unwinds with frame pointers, for speed; the replay of what it kept
# unwinds exactly, so that lsan.supp excuses libfyaml's one known leak and no
# other (tests/fuzz/lsan*.supp say why).
fast_leaks="detect_leaks=1" exact_leaks="detect_leaks=1:fast_unwind_on_malloc=0"
fast_supp="suppressions=$PWD/tests/fuzz/lsan-fuzz.supp" exact_supp="suppressions=$PWD/tests/fuzz/lsan.supp"
failed() { # name, exit status, executions, log
    local input
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$4" | tail -1)
    echo "FAIL fuzz_$1: exit $2 after ${3:-?} executions; input: ${input:-none written}; log: $4"
    grep -E '^(==[0-9]+== ?ERROR|SUMMARY|.*runtime error)' "$4" | head -8 || true
    status=1
}
status=0
for name in "${names[@]}"; do
    src=tests/fuzz
    scratch=$dir/scratch/$name artifacts=$dir/artifacts/$name log=$dir/logs/$name.log
    rm -rf "$scratch"
    mkdir -p "$scratch" "$artifacts" "$dir/logs"
    find "$src/corpus/$name" "$src/regressions/$name" -type f ! -name .gitkeep \
        -exec cp {} "$scratch/" \;
    dict=()
    case $name in config | config_set) dict=(-dict="$src/dict/yaml.dict") ;; esac
    rc=0
    ASAN_OPTIONS=$fast_leaks LSAN_OPTIONS=$fast_supp \
        "$dir/tests/fuzz/fuzz_$name" "$scratch" "${dict[@]}" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        failed "$name" $rc "$execs" "$log"
        continue
    fi
    # -runs=0: run each kept input once, checking leaks input by input.
    ASAN_OPTIONS=$exact_leaks LSAN_OPTIONS=$exact_supp \
        "$dir/tests/fuzz/fuzz_$name" "$scratch" -runs=0 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts/" >"$log.replay" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        failed "$name" $rc "$execs" "$log.replay"
        continue
    fi
    echo "ok   fuzz_$name: $execs executions in $seconds s, corpus $(ls "$scratch" | wc -l) inputs"
    if [ $keep -eq 1 ]; then
        ASAN_OPTIONS=$exact_leaks LSAN_OPTIONS=$exact_supp \
            "$dir/tests/fuzz/fuzz_$name" -merge=1 "$src/corpus/$name" "$scratch" "${dict[@]}" \
            -max_len=4096 >>"$log" 2>&1 || { echo "FAIL fuzz_$name: merging the corpus"; status=1; }
    fi
done

echo "== fuzz: replaying tests/fuzz/regressions and tests/fuzz/corpus"
ctest --test-dir "$dir/tests/fuzz" --output-on-failure -L fuzz || status=1

if [ $status -ne 0 ]; then echo "fuzz: FAILED"; exit 1; fi
echo "fuzz: all harnesses passed"
