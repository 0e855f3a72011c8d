#!/usr/bin/env bash
# Data-parallel training over MPI (docs/distributed.md), with mpirun
# --oversubscribe (this machine may have fewer cores than ranks):
#  1. 200 steps at R = 1, 2 and 4 (a global batch that does not divide
#     evenly, an adaptive clipper, monitoring) give weights within 1e-5
#     relative of each other and the same logged global gradient norm and
#     loss at every step; rank 0 alone prints; a start-up failure on one
#     rank alone ends the job at once with that rank's message;
#  2. a NaN injected into rank 1's gradient alone at step 50 makes every
#     rank skip step 50 (a nonfinite and a skip event there at every R),
#     every R skips the same steps, the weights still agree, and no run
#     hangs;
#  3. with dropout and batch norm, a job of R = 2 is reproducible: two runs
#     give the same bytes;
#  4. killing one rank mid-run ends the job within seconds, non-zero, with
#     the one-line lost-contact message naming the last checkpoint; that
#     checkpoint is whole and evaluates; resuming with another number of
#     ranks is refused with a clear message (and renames nothing); resuming
#     with mpirun -n 2 finishes with the same bytes as an uninterrupted run;
#  5. SIGUSR1 to mpirun (forwarded to every rank) stops every rank at the
#     same step with a checkpoint, and the resumed run ends identical too.
# Every mpirun runs under `timeout`, so a hang fails the test instead of
# stalling it.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
GG_SOURCE_DIR=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MPIRUN=${GG_MPIEXEC:-mpirun}
PY=/usr/bin/python3
mpi=("$MPIRUN" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
# One thread per rank: ranks share this machine's cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
unset GG_TEST_NAN_STEP GG_TEST_NAN_RANK GG_DIST_TIMING GG_DIST GG_DIST_QUIET
# Under AddressSanitizer: OpenMPI unloads its components before the leak
# check, which then cannot tell their allocations from ours; kept loaded
# and unwound exactly, each has an OpenMPI library on its stack, which
# lsan-mpi.supp excuses (gradguard's own leaks are still reported).
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$GG_SOURCE_DIR/tests/dist/lsan-mpi.supp:print_suppressions=0"
work=$(mktemp -d /tmp/gg-mpi-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
verdict() { if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi; }
# run R DIR ARGS...: 120 s at most; stderr kept in DIR.err
run() {
    local R=$1 dir=$2; shift 2
    timeout -k 5 120 "${mpi[@]}" -n "$R" "$GG_BIN" train "$@" --out "$dir" --threads 1 --quiet \
        >"$dir.out" 2>"$dir.err"
}

# A linearly separable task, 1010 training rows: batches of 50 (R = 4 cuts
# them 12/13/12/13), and each epoch ends with a batch of 10 (2/3/2/3).
common=(--set data.dataset=random-binary --set data.samples=1500 --set data.features=20
        --set data.validation=190 --set model.input=[20] --set train.batch_size=50
        --set 'model.layers=[{dense: {units: 64}}, tanh, {dense: {units: 32}}, relu, {dense: {units: 2}}]'
        --set optimizer.name=adam --set optimizer.lr=0.003 --set guard.clip.mode=zclip
        --set guard.monitor.every=10 --steps 200)

# compare.py A B [--same-events KIND@STEP...]: weights within 1e-5 relative
# (max |a - b| / max |a| per tensor), grad_norm and loss per step within 1e-5.
cat >"$work/compare.py" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from parity_util import load_safetensors
a_dir, b_dir = sys.argv[2], sys.argv[3]
def weights(d):
    w = load_safetensors(d + "/model.safetensors")
    return w[0] if isinstance(w, tuple) else w
def steps(d):
    return {l["step"]: l for l in map(json.loads, open(d + "/metrics.jsonl")) if l["type"] == "step"}
wa, wb = weights(a_dir), weights(b_dir)
worst = 0.0
assert sorted(wa) == sorted(wb), (sorted(wa), sorted(wb))
for k in wa:
    x, y = np.asarray(wa[k], np.float64), np.asarray(wb[k], np.float64)
    worst = max(worst, float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-30)))
sa, sb = steps(a_dir), steps(b_dir)
assert sorted(sa) == sorted(sb) and len(sa) == 200, (len(sa), len(sb))
gn = 0.0
for s in sa:
    for key in ("grad_norm", "loss"):
        x, y = sa[s][key], sb[s][key]
        if x is None or y is None:  # a skipped step's NaN norm is null: both must be
            assert x is None and y is None, (s, key, x, y)
            continue
        gn = max(gn, abs(x - y) / max(abs(x), 1e-30))
    assert sa[s]["skipped"] == sb[s]["skipped"], s
print(f"weights {worst:.2e}, grad_norm/loss {gn:.2e} (relative)")
sys.exit(0 if worst <= 1e-5 and gn <= 1e-5 else 1)
PY
compare() { $PY "$work/compare.py" "$GG_SOURCE_DIR/tests/parity" "$1" "$2"; }

# 1. R = 1, 2, 4 agree.
for R in 1 2 4; do
    run $R "$work/r$R" "${common[@]}"
    verdict "R=$R: 200 steps finish" $?
done
for R in 2 4; do
    echo -n "     R=1 vs R=$R: "
    compare "$work/r1" "$work/r$R"
    verdict "R=$R agrees with R=1 (weights, grad_norm, loss within 1e-5)" $?
done
timeout -k 5 60 "${mpi[@]}" -n 4 "$GG_BIN" train "${common[@]}" --steps 5 --out "$work/talk" --threads 1 \
    >"$work/talk.out" 2>"$work/talk.err"
grep -q "^data parallel: 4 ranks" "$work/talk.out" && [ "$(grep -c "^test accuracy" "$work/talk.out")" -eq 1 ] &&
    [ "$(grep -c "^training " "$work/talk.out")" -eq 1 ] && [ ! -s "$work/talk.err" ]
verdict "rank 0 alone prints, and names the job's 4 ranks" $?

# A start-up failure on one rank alone (MPMD: rank 1 gets a missing data
# file): every rank exits, rank 1 says why with its rank, rank 0 says how
# many could not start; nobody waits for the others.
small=(--set data.dataset=random-binary --set data.validation=10 --set model.input=[10] --steps 5 --quiet
       --threads 1 --out "$work/startup")
timeout -k 5 60 "${mpi[@]}" -n 1 "$GG_BIN" train "${small[@]}" : -n 1 "$GG_BIN" train "${small[@]}" \
    --set data.dataset=csv:/nonexistent/gg.csv >/dev/null 2>"$work/startup.err"
status=$?
[ $status -ne 0 ] && [ $status -ne 124 ] && [ $status -ne 137 ] &&
    grep -q "^gradguard: rank 1: /nonexistent/gg.csv: cannot open" "$work/startup.err" &&
    grep -q "^gradguard: 1 of the job's 2 ranks could not start" "$work/startup.err"
verdict "a start-up failure on rank 1 alone ends the job with its message (exit $status)" $?

# 2. A NaN in rank 1's gradient alone (rank 0 when R = 1) at step 50.
for R in 1 2 4; do
    GG_TEST_NAN_STEP=50 GG_TEST_NAN_RANK=$((R > 1 ? 1 : 0)) run $R "$work/nan$R" "${common[@]}"
    status=$?
    [ $status -eq 0 ] &&
        grep -q '"type":"event","step":50,"kind":"nonfinite"' "$work/nan$R/metrics.jsonl" &&
        grep -q '"type":"event","step":50,"kind":"skip"' "$work/nan$R/metrics.jsonl" &&
        grep -q '"type":"step","step":50,.*"skipped":true' "$work/nan$R/metrics.jsonl"
    verdict "R=$R: a NaN on one rank makes the job skip step 50 (exit $status, no hang)" $?
done
for R in 2 4; do
    echo -n "     NaN run, R=1 vs R=$R: "
    compare "$work/nan1" "$work/nan$R"
    verdict "R=$R agrees with R=1 after the skipped step" $?
done

# 3-5. Dropout and batch norm, checkpoints every 10 steps.
bn=(--set data.dataset=random-binary --set data.samples=4000 --set data.features=64
    --set data.validation=200 --set model.input=[64] --set train.batch_size=64 --set train.epochs=100
    --set 'model.layers=[{dense: {units: 256}}, batch_norm, relu, {dropout: {p: 0.2}}, {dense: {units: 256}}, relu, {dense: {units: 2}}]'
    --set checkpoint.every_steps=10 --steps 300)
run 2 "$work/ref" "${bn[@]}" && run 2 "$work/ref2" "${bn[@]}" &&
    cmp -s "$work/ref/model.safetensors" "$work/ref2/model.safetensors"
verdict "R=2 with dropout and batch norm: two runs give the same bytes" $?

# Rank 1's process: a child of mpirun whose environment says so.
rank_pid() { # MPIRUN-PID RANK
    local p
    for p in $(pgrep -P "$1"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return 0; }
    done
    return 1
}
wait_step() { # DIR STEP: until metrics.jsonl has that step (20 s at most)
    for _ in $(seq 400); do
        grep -q "\"step\":$2," "$1/metrics.jsonl" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# 4. Kill rank 1 after step 60.
k="$work/killed"
"${mpi[@]}" -n 2 "$GG_BIN" train "${bn[@]}" --out "$k" --threads 1 --quiet >"$k.out" 2>"$k.err" &
mp=$!
wait_step "$k" 60
pid=$(rank_pid $mp 1)
start=$(date +%s)
kill -9 "$pid"
# mpirun must end by itself: no hang (30 s grace, then the test kills it).
( sleep 30; kill -9 $mp 2>/dev/null ) &
watchdog=$!
wait $mp
status=$?
kill $watchdog 2>/dev/null
secs=$(($(date +%s) - start))
[ -n "$pid" ] && [ $status -ne 0 ] && [ $secs -lt 30 ]
verdict "killing rank 1 ends the job, non-zero, in ${secs}s (exit $status)" $?
grep -E "^gradguard: rank 0 lost contact with the job \(.*\); the last checkpoint is $k/checkpoint\.safetensors \(step [0-9]+\)$" "$k.err"
verdict "rank 0 says it lost contact and names the last checkpoint" $?
$PY - "$k" <<'PY'
import glob, json, struct, sys, zlib
bad = []
files = glob.glob(sys.argv[1] + "/checkpoint*.safetensors")
for path in files:
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    crc = 0
    for key in sorted(x for x in h if x != "__metadata__"):
        s, e = h[key]["data_offsets"]
        crc = zlib.crc32(b[8 + n + s:8 + n + e], crc)
    if "%08x" % crc != h["__metadata__"]["checksum"] or h["__metadata__"].get("world_size") != "2":
        bad.append(path)
sys.exit(1 if bad or not files else 0)
PY
verdict "every checkpoint left is whole and records world_size 2" $?
"$GG_BIN" eval "$k/checkpoint.safetensors" >/dev/null 2>"$work/eval.err"
verdict "gradguard eval loads the last checkpoint" $?
before=$(ls "$k")
timeout 60 "$GG_BIN" train --resume "$k" --threads 1 --quiet >/dev/null 2>"$work/r1.err"
status=$?
[ $status -eq 2 ] && grep -q "checkpoint was written by 2 ranks, this job has 1; resume with mpirun -n 2" "$work/r1.err" &&
    [ "$(ls "$k")" = "$before" ]
verdict "resuming without mpirun is refused with a clear message, nothing renamed (exit $status)" $?
timeout -k 5 60 "${mpi[@]}" -n 4 "$GG_BIN" train --resume "$k" --threads 1 --quiet >/dev/null 2>"$work/r4.err"
status=$?
[ $status -ne 0 ] && grep -q "checkpoint was written by 2 ranks, this job has 4; resume with mpirun -n 2" "$work/r4.err" &&
    [ "$(ls "$k")" = "$before" ]
verdict "resuming with mpirun -n 4 is refused with the same message (exit $status)" $?
timeout -k 5 120 "${mpi[@]}" -n 2 "$GG_BIN" train --resume "$k" --threads 1 --quiet >"$work/resume.out" 2>&1
verdict "mpirun -n 2 gradguard train --resume finishes" $?
cmp -s "$k/model.safetensors" "$work/ref/model.safetensors"
verdict "the killed and resumed job ends with the uninterrupted job's bytes" $?

# 5. SIGUSR1: every rank stops at the same step with a checkpoint.
u="$work/usr1"
"${mpi[@]}" -n 2 "$GG_BIN" train "${bn[@]}" --out "$u" --threads 1 --quiet >"$u.out" 2>"$u.err" &
mp=$!
wait_step "$u" 40
kill -USR1 $mp
( sleep 30; kill -9 $mp 2>/dev/null ) &
watchdog=$!
wait $mp
status=$?
kill $watchdog 2>/dev/null
stopped=$(grep -o '"kind":"stopped"' "$u/metrics.jsonl" | wc -l)
[ $status -eq 138 ] && [ "$stopped" -eq 1 ] && grep -q "stopped by signal 10 at step" "$u.err"
verdict "SIGUSR1 stops every rank at one step with a checkpoint (exit $status)" $?
timeout -k 5 120 "${mpi[@]}" -n 2 "$GG_BIN" train --resume "$u" --threads 1 --quiet >/dev/null 2>&1 &&
    cmp -s "$u/model.safetensors" "$work/ref/model.safetensors"
verdict "the stopped and resumed job ends with the uninterrupted job's bytes" $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
