#!/usr/bin/env bash
# The torture configs of configs/torture/ with the guard on: the SGD-at-lr-1
# MLP and the 20-layer uniform-init tanh MLP train to >= 80% test accuracy
# with finite weights; the 10-layer sigmoid MLP is diagnosed as vanishing,
# naming the layer. Their failure without the guard is shown by the same
# configs with --set guard.enabled=false (README, issue #4's note).
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
: "${GG_SOURCE_DIR:?}"
work=$(mktemp -d /tmp/gg-torture-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
verdict() { # NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
trains() { # CONFIG: >= 80% test accuracy, every weight finite
    local name=$1 run="$work/$1"
    "$GG_BIN" train "$GG_SOURCE_DIR/configs/torture/$name.yaml" --out "$run" --quiet >"$work/$name.out" 2>&1
    /usr/bin/python3 - "$run" <<'PY'
import json, struct, sys
import numpy as np
run = sys.argv[1]
s = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if '"summary"' in l][0]
b = open(f"{run}/model.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
finite = all(np.isfinite(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], {"F32": "<f4", "F64": "<f8"}[v["dtype"]])).all()
             for k, v in h.items() if k != "__metadata__")
print(f"  {run.rsplit('/', 1)[1]}: test accuracy {100 * s['test_acc']:.2f}%, weights finite: {finite}")
sys.exit(0 if s["test_acc"] >= 0.80 and finite else 1)
PY
    verdict "$name trains to 80% with finite weights" $?
}
trains mlp-sgd-lr1
trains tanh20-uniform

"$GG_BIN" train "$GG_SOURCE_DIR/configs/torture/sigmoid10-naive.yaml" --out "$work/sig" >"$work/sig.out" 2>&1
grep -E "^diagnosis: vanishing gradients: from layers\.[0-9]+\.weight back to the input" "$work/sig.out"
verdict "sigmoid10-naive is diagnosed as vanishing, naming the layer" $?
grep -q '"kind":"diagnosis","message":"vanishing gradients' "$work/sig/metrics.jsonl"
verdict "the diagnosis is an event in metrics.jsonl" $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
