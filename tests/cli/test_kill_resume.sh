#!/usr/bin/env bash
# Kill a training with SIGKILL at random moments (at least 20 times, many
# while a checkpoint is being written), resume it each time, and check
# that (1) no checkpoint file is ever left corrupt (each one's CRC-32 is
# recomputed after every kill), and (2) the final weights are byte-identical
# to an uninterrupted run. Also: SIGTERM writes a checkpoint and exits 143,
# and a corrupt newest checkpoint is skipped with a warning naming it.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
work=$(mktemp -d /tmp/gg-kill-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
verdict() { if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi; }

/usr/bin/python3 - "$work/data.csv" <<'PY'
import sys
import numpy as np
r = np.random.default_rng(7)
x = r.normal(size=(3000, 32))
y = (x[:, :4].sum(1) > 0).astype(int) + 2 * (x[:, 4] > 0)
np.savetxt(sys.argv[1], np.column_stack([x, y]), delimiter=",", fmt="%.6g")
PY
STEPS=400
args=(--set "data.dataset=csv:$work/data.csv" --set data.validation=300 --set model.input=[32]
      --set 'model.layers=[{dense: {units: 256}}, relu, {dense: {units: 256}}, tanh, {dense: {units: 4}}]'
      --set optimizer.name=adam --set train.batch_size=32 --set train.epochs=20
      --set checkpoint.every_steps=2 --set checkpoint.keep=2 --set guard.monitor.every=5
      --steps $STEPS --threads 1 --quiet)

# Every checkpoint in DIR must be whole: its CRC-32 matches its data.
verify_checkpoints() {
    /usr/bin/python3 - "$1" <<'PY'
import glob, json, struct, sys, zlib
bad = []
for path in glob.glob(sys.argv[1] + "/checkpoint*.safetensors"):
    b = open(path, "rb").read()
    try:
        n = struct.unpack("<Q", b[:8])[0]
        h = json.loads(b[8:8 + n])
        data = b[8 + n:]
        crc = 0
        for k in sorted(x for x in h if x != "__metadata__"):
            s, e = h[k]["data_offsets"]
            crc = zlib.crc32(data[s:e], crc)
        if "%08x" % crc != h["__metadata__"]["checksum"]:
            bad.append(path)
    except Exception as ex:  # a truncated or unparsable file
        bad.append(f"{path} ({ex})")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

"$GG_BIN" train "${args[@]}" --out "$work/whole" >/dev/null 2>&1
verdict "uninterrupted run finishes" $?
start=$(date +%s%N)
"$GG_BIN" train "${args[@]}" --out "$work/timing" >/dev/null 2>&1
run_ms=$(( ($(date +%s%N) - start) / 1000000 ))

# Start (or restart) the killed run: resume when it has a run directory.
launch() {
    if [ -f "$work/killed/config.yaml" ]; then
        "$GG_BIN" train --resume "$work/killed" --steps $STEPS --threads 1 --quiet >/dev/null 2>"$work/resume.err" &
    else
        "$GG_BIN" train "${args[@]}" --out "$work/killed" >/dev/null 2>"$work/resume.err" &
    fi
    pid=$!
}
kills=0 mid_write=0 corrupt=0 rounds=0 errors=0
RANDOM=42
launch
while [ $rounds -lt 400 ]; do
    rounds=$((rounds + 1))
    # A random moment within the first 40% of a whole run's time.
    sleep "$(awk -v ms="$run_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.02 + ms * (r % 1000) / 2500000 }')"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        ls "$work/killed" 2>/dev/null | grep -q '\.tmp\.' && mid_write=$((mid_write + 1))
        verify_checkpoints "$work/killed" >/dev/null || corrupt=$((corrupt + 1))
    else
        wait "$pid"
        status=$?
        if [ $status -ne 0 ]; then errors=$((errors + 1)); cat "$work/resume.err"; fi
        if [ -f "$work/killed/model.safetensors" ]; then
            [ $kills -ge 20 ] && break
            rm -rf "$work/killed" # finished too soon: again, for more kills
        fi
    fi
    launch
done
echo "     $kills kills ($mid_write while a checkpoint was being written), $corrupt with a corrupt checkpoint, $errors failed runs"
[ $errors -eq 0 ]
verdict "every resumed run either finished or was killed" $?
[ $kills -ge 20 ]
verdict "at least 20 kills" $?
[ $corrupt -eq 0 ]
verdict "no checkpoint was ever left corrupt" $?
cmp "$work/whole/model.safetensors" "$work/killed/model.safetensors"
verdict "killed-and-resumed weights are byte-identical to the uninterrupted run" $?
/usr/bin/python3 - "$work/whole/metrics.jsonl" "$work/killed/metrics.jsonl" <<'PY'
import json, sys
def steps(p):
    return [(l["step"], l["loss"], l["grad_norm"]) for l in map(json.loads, open(p)) if l["type"] == "step"]
a, b = steps(sys.argv[1]), steps(sys.argv[2])
sys.exit(0 if a == b else 1)
PY
verdict "metrics.jsonl step lines match the uninterrupted run's, once each" $?

# SIGTERM: finish the step, write a checkpoint, exit 143.
"$GG_BIN" train "${args[@]}" --set checkpoint.every_steps=0 --out "$work/term" >/dev/null 2>"$work/term.err" &
pid=$!
for _ in $(seq 100); do [ -f "$work/term/metrics.jsonl" ] && grep -q '"step":20,' "$work/term/metrics.jsonl" && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
status=$?
[ $status -eq 143 ] && [ -f "$work/term/checkpoint.safetensors" ] && grep -q "resume" "$work/term.err"
verdict "SIGTERM writes a checkpoint and exits 143" $?

# A corrupt newest checkpoint is skipped with a warning naming it.
cp -r "$work/whole" "$work/damaged"
printf 'garbage' | dd of="$work/damaged/checkpoint.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
"$GG_BIN" train --resume "$work/damaged" --steps $STEPS --threads 1 --quiet >/dev/null 2>"$work/damaged.err"
status=$?
[ $status -eq 0 ] && grep -q "skipping $work/damaged/checkpoint.safetensors" "$work/damaged.err"
verdict "a corrupt checkpoint is skipped with a warning naming it" $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
