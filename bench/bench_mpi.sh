#!/usr/bin/env bash
# Data-parallel training throughput on this machine (docs/distributed.md):
# samples/s of `gradguard train` at R = 1 rank with T threads against R
# ranks with T / R threads each (default T = all cores, R = 2), on the
# default model (the 784-512-10 MLP on Fashion-MNIST, batch 64, Adam, the
# guard on) or CONFIG, for a fixed number of steps; and the all-reduce's
# time per step, from a run with GG_DIST_TIMING=1 (a barrier before each
# reduction, so that the reduction's time is the transfer alone and the
# barrier's the wait for the slowest rank).
#   bench/bench_mpi.sh [--bin GRADGUARD] [--steps N] [--repeats K] [--ranks R] [CONFIG]
# Prints a Markdown table. Nothing here passes or fails. Run it on an idle
# machine: another busy process skews every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/gradguard steps=800 repeats=3 ranks=2 config=()
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$2; shift ;;
    --steps) steps=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --ranks) ranks=$2; shift ;;
    -h | --help) sed -n 2,12p "$0"; exit 0 ;;
    *) config=("$1") ;;
    esac
    shift
done
cores=$(nproc)
per=$((cores / ranks)); [ $per -ge 1 ] || per=1
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1
unset GG_DIST_TIMING OMP_NUM_THREADS
work=$(mktemp -d /tmp/gg-bench-mpi-XXXXXX)
trap 'rm -rf "$work"' EXIT

# One run; prints "SAMPLES_PER_S [ALLREDUCE_MS WAIT_MS MB]". The rate is the
# last epoch line's (training steps only, no evaluation).
one() { # R THREADS TIMING
    local R=$1 T=$2 timing=$3 out="$work/run"
    rm -rf "$out"
    local launch=("${mpi[@]}" -n "$R")
    # mpirun binds each rank to one core when R <= 2: with several threads
    # per rank, let them spread over the cores.
    [ "$T" -gt 1 ] && launch+=(--bind-to none)
    [ "$R" -eq 1 ] && [ "$T" -gt 1 ] && launch=() # one process: no mpirun at all
    GG_DIST_TIMING=$timing "${launch[@]}" "$bin" train "${config[@]}" --steps "$steps" --threads "$T" \
        --set checkpoint.every_steps=0 --set checkpoint.every_minutes=0 --out "$out" >"$work/log" 2>&1 ||
        { cat "$work/log" >&2; exit 1; }
    local rate
    rate=$(grep -o '[0-9.]* samples/s' "$work/log" | tail -1 | cut -d' ' -f1)
    local ar
    ar=$(grep '^all-reduce:' "$work/log" | sed -E 's/all-reduce: ([0-9.]+) ms per step.*, ([0-9.]+) MB per step.*slowest rank: ([0-9.]+) ms.*/\1 \3 \2/' || true)
    echo "$rate $ar"
}
best() { # R THREADS TIMING: the best rate of the repeats (and its all-reduce figures)
    local b="" line
    for _ in $(seq "$repeats"); do
        line=$(one "$@")
        if [ -z "$b" ] || awk -v a="${line%% *}" -v b="${b%% *}" 'BEGIN { exit !(a > b) }'; then b=$line; fi
    done
    echo "$b"
}
r1=$(best 1 "$cores" 0)
rr=$(best "$ranks" "$per" 0)
rt=$(best "$ranks" "$per" 1)
read -r s1 _ <<<"$r1"
read -r sr _ <<<"$rr"
read -r st ar wait mb <<<"$rt"
echo "| job | threads per rank | samples/s | speed-up |"
echo "|---|---|---|---|"
printf "| R = 1 | %d | %.0f | 1.00 |\n" "$cores" "$s1"
printf "| R = %d | %d | %.0f | %.2f |\n" "$ranks" "$per" "$sr" "$(awk -v a="$sr" -v b="$s1" 'BEGIN { print a / b }')"
echo
printf "all-reduce at R = %d (GG_DIST_TIMING=1, %.0f samples/s with the barrier): %.3f ms per step for %.2f MB " \
    "$ranks" "$st" "$ar" "$mb"
printf "(%.2f GB/s of gradient), plus %.3f ms per step waiting for the slowest rank; " \
    "$(awk -v m="$mb" -v t="$ar" 'BEGIN { print m / t }')" "$wait"
printf "a step of the default batch of 64 takes %.2f ms at R = 1\n" "$(awk -v s="$s1" 'BEGIN { print 64 * 1000 / s }')"
