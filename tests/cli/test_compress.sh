#!/usr/bin/env bash
# `gradguard compress` end to end on a small trained MLP: int8 quantisation
# and `gradguard eval` of the int8 file (every int8 kernel of this CPU gives
# the same result), pruning (global exactly, structured per layer, with
# fine-tuning keeping pruned weights zero through to the int8 file), and
# broken or mismatched int8 files refused by eval with exit status 2 and
# one line naming the file and the tensor; pruning while training (prune:)
# and the sweep's compress.jsonl written into the run directory.
. "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"

"$GG_BIN" train --steps 300 --set 'model.layers=[{dense: {units: 64}}, relu, {dense: {units: 10}}]' \
    --out "$work/run" --quiet >"$work/train.out" 2>&1
check trained test -s "$work/run/model.safetensors"

# ---- int8 ---------------------------------------------------------------
"$GG_BIN" compress "$work/run" --quantize int8 --out "$work/q.safetensors" >"$work/q.out" 2>&1
check quantize_writes_the_file_and_reports bash -c "test -s '$work/q.safetensors' && grep -q 'int8 (' '$work/q.out' && grep -q 'smaller' '$work/q.out'"
check int8_file_is_i8_with_scales py "
from parity_util import load_safetensors
t, meta = load_safetensors('$work/q.safetensors', with_metadata=True)
assert meta['gradguard_quantization'] == 'int8', meta
for i, (o, k) in ((0, (64, 784)), (2, (10, 64))):
    w = t['layers.%d.weight' % i]
    assert w.dtype.name == 'int8' and w.shape == (o, k), (w.dtype, w.shape)
    assert abs(w).max() == 127 and w.min() >= -127
    s = t['layers.%d.weight_scale' % i]
    assert s.dtype.name == 'float32' and s.shape == (o,) and (s > 0).all()
    assert t['layers.%d.input_scale' % i].shape == (1,)
    assert t['layers.%d.input_zero_point' % i].dtype.name == 'uint8'
    assert t['layers.%d.input_zero_point' % i][0] <= 127
    assert t['layers.%d.bias' % i].dtype.name in ('float32', 'float64')  # the build's real type
"
check int8_file_is_3_5x_smaller py "
import os
a, b = os.path.getsize('$work/run/model.safetensors'), os.path.getsize('$work/q.safetensors')
assert a / b >= 3.5, (a, b, a / b)
"
check eval_runs_the_int8_file_close_to_float py "
import json, subprocess
f = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/run', '--json']))
q = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/q.safetensors', '--json']))
assert q['quantization'] == 'int8' and q['samples'] == 10000, q
assert abs(q['accuracy'] - f['accuracy']) <= 0.01, (f, q)
"
# Every kernel gives the same int32 sums, so the same loss to the last digit.
kernels_agree() {
    local ref="" k out
    for k in portable avx2 avx512bw avx512-vnni; do
        out=$(GG_INT8_KERNEL=$k "$GG_BIN" eval "$work/q.safetensors" --json) || return 1
        echo "$out" | grep -q "\"int8_kernel\":\"$k\"" || { echo "($k not on this CPU)"; continue; }
        out=$(echo "$out" | sed 's/,"int8_kernel":"[^"]*"//')
        echo "$k: $out"
        [ -z "$ref" ] && ref=$out
        [ "$out" = "$ref" ] || return 1
    done
}
check every_int8_kernel_gives_the_same_result kernels_agree

# ---- pruning --------------------------------------------------------------
"$GG_BIN" compress "$work/run" --prune 0.9 --out "$work/p90.safetensors" --quiet >/dev/null 2>&1
check global_prune_reaches_90_percent_exactly py "
from parity_util import load_safetensors
t = load_safetensors('$work/p90.safetensors')
w = [t['layers.0.weight'], t['layers.2.weight']]
n = sum(x.size for x in w); z = sum(int((x == 0).sum()) for x in w)
assert z == int(0.9 * n + 0.5), (z, n)
assert (t['layers.0.bias'] != 0).all()
"
"$GG_BIN" compress "$work/run" --prune 75% --structured --scope layer --out "$work/ps.safetensors" --quiet >/dev/null 2>&1
check structured_prune_removes_whole_units py "
from parity_util import load_safetensors
t = load_safetensors('$work/ps.safetensors')
rows = (t['layers.0.weight'] == 0).all(axis=1)
assert rows.sum() == 48, rows.sum()
assert ((t['layers.0.weight'] == 0).sum(axis=1)[~rows] == 0).all()
assert (t['layers.2.weight'] != 0).all()  # the output layer is kept
"
"$GG_BIN" compress "$work/run" --prune 0.9 --finetune-epochs 1 --quantize int8 --out "$work/pf.safetensors" >"$work/pf.out" 2>&1
check finetuned_pruned_int8_keeps_the_zeros py "
from parity_util import load_safetensors
t = load_safetensors('$work/pf.safetensors')
w = [t['layers.0.weight'], t['layers.2.weight']]
n = sum(x.size for x in w); z = sum(int((x == 0).sum()) for x in w)
assert z >= int(0.9 * n + 0.5), (z, n)
assert z <= int(0.9 * n + 0.5) + 0.002 * n, (z, n)  # a few small weights may round to 0
"
check finetuned_pruned_int8_evaluates bash -c "'$GG_BIN' eval '$work/pf.safetensors' | grep -q 'int8'"

# ---- refused -----------------------------------------------------------------
# gen.py writes broken variants of q.safetensors: NAME \t PATTERN per line.
cat >"$work/gen.py" <<'PYEOF'
import json, os, sys
import numpy as np
from parity_util import load_safetensors, save_safetensors
W = sys.argv[1]
good, meta = load_safetensors(W + "/q.safetensors", with_metadata=True)
cases = []
def case(name, pattern, tensors=None, metadata=None, raw=None):
    path = "%s/bad-%s.safetensors" % (W, name)
    if raw is not None:
        open(path, "wb").write(raw)
    else:
        save_safetensors(path, tensors, metadata if metadata is not None else meta, use_library=False)
    cases.append((name, path, pattern))
def edit(**changes):
    t = dict(good)
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None: del t[k]
        else: t[k] = v
    return t
case("missing_scale", "layers.0.weight_scale", edit(layers__0__weight_scale=None))
case("missing_input_scale", "layers.2.input_scale", edit(layers__2__input_scale=None))
case("scale_shape", "layers.0.weight_scale", edit(layers__0__weight_scale=np.ones(63, np.float32)))
case("scale_zero", "layers.2.weight_scale", edit(layers__2__weight_scale=np.zeros(10, np.float32)))
s = good["layers.0.weight_scale"].copy(); s[5] = np.nan
case("scale_nan", "layers.0.weight_scale", edit(layers__0__weight_scale=s))
case("scale_f64", "layers.0.weight_scale", edit(layers__0__weight_scale=good["layers.0.weight_scale"].astype(np.float64)))
case("weight_float", "layers.0.weight", edit(layers__0__weight=good["layers.0.weight"].astype(np.float32)))
w = good["layers.0.weight"].copy(); w[3, 7] = -128
case("weight_minus_128", "layers.0.weight", edit(layers__0__weight=w))
case("weight_shape", "layers.2.weight", edit(layers__2__weight=good["layers.2.weight"][:, :63].copy()))
case("zero_point_range", "layers.0.input_zero_point", edit(layers__0__input_zero_point=np.array([200], np.uint8)))
case("zero_point_dtype", "layers.0.input_zero_point", edit(layers__0__input_zero_point=np.array([3], np.int32)))
case("input_scale_negative", "layers.2.input_scale", edit(layers__2__input_scale=np.array([-1], np.float32)))
case("bias_nan", "layers.0.bias", edit(layers__0__bias=np.full(64, np.nan, np.float32)))
case("extra_tensor", "layers.9.weight_scale", edit(layers__9__weight_scale=np.ones(3, np.float32)))
m = dict(meta); m["gradguard_quantization"] = "int4"
case("unknown_quantization", "gradguard_quantization", dict(good), m)
m = dict(meta); m["gradguard_config"] = meta["gradguard_config"].replace("units: 64", "units: 32")
case("config_mismatch", "layers.0.weight", dict(good), m)
raw = open(W + "/q.safetensors", "rb").read()
case("truncated", "", raw=raw[: len(raw) - 1000])
with open(W + "/cases.tsv", "w") as f:
    for name, path, pattern in cases:
        f.write("%s\t%s\t%s\n" % (name, path, pattern))
PYEOF
PYTHONPATH="$GG_SOURCE_DIR/tests/parity" /usr/bin/python3 "$work/gen.py" "$work" || { echo "FAIL gen.py"; exit 1; }
refused() { # PATH PATTERN: eval exits 2, one stderr line naming the file (and PATTERN), no stdout
    local path=$1 pattern=$2 rc
    timeout 60 "$GG_BIN" eval "$path" >"$work/r.out" 2>"$work/r.err"; rc=$?
    cat "$work/r.err"
    [ "$rc" -eq 2 ] || { echo "exit $rc, expected 2"; return 1; }
    [ ! -s "$work/r.out" ] || { echo "stdout not empty"; return 1; }
    [ "$(wc -l <"$work/r.err")" -eq 1 ] || { echo "expected one line on stderr"; return 1; }
    grep -qF "$path" "$work/r.err" || { echo "does not name the file"; return 1; }
    [ -z "$pattern" ] || grep -qF "'$pattern'" "$work/r.err" || { echo "does not name '$pattern'"; return 1; }
}
while IFS=$'\t' read -r name path pattern; do
    check "refused_$name" refused "$path" "$pattern"
done <"$work/cases.tsv"
check train_init_refuses_an_int8_file bash -c "
    '$GG_BIN' train --steps 1 --init '$work/q.safetensors' --set 'model.layers=[{dense: {units: 64}}, relu, {dense: {units: 10}}]' \
        --out '$work/never' >/dev/null 2>'$work/init.err'; rc=\$?
    cat '$work/init.err'; [ \$rc -eq 2 ] && grep -q 'layers.0.weight' '$work/init.err' && grep -q 'I8' '$work/init.err' && [ ! -e '$work/never' ]"
check compress_refuses_an_int8_input bash -c "
    '$GG_BIN' compress '$work/q.safetensors' --quantize int8 --out '$work/qq.safetensors' 2>'$work/c.err'; rc=\$?
    cat '$work/c.err'; [ \$rc -eq 2 ] && grep -q 'already an int8 model' '$work/c.err' && [ ! -e '$work/qq.safetensors' ]"
# ---- pruning while training (the config's prune: section) ----------------
"$GG_BIN" train --steps 300 --set 'model.layers=[{dense: {units: 64}}, relu, {dense: {units: 10}}]' \
    --set prune.sparsity=0.8 --set prune.frequency=20 --out "$work/prun" --quiet >"$work/prun.out" 2>&1
check train_prune_reaches_the_sparsity_exactly py "
from parity_util import load_safetensors
t = load_safetensors('$work/prun/model.safetensors')
w = [t['layers.0.weight'], t['layers.2.weight']]
n = sum(x.size for x in w); z = sum(int((x == 0).sum()) for x in w)
assert z == int(0.8 * n + 0.5), (z, n)
assert (t['layers.0.bias'] != 0).any()
"
check train_prune_logs_the_schedule py "
import json
steps = [json.loads(l) for l in open('$work/prun/metrics.jsonl') if '\"type\":\"step\"' in l]
s = [(r['step'], r['sparsity']) for r in steps]
assert all(0 <= v <= 0.8 + 1e-4 for _, v in s), max(v for _, v in s)
assert all(b >= a for (_, a), (_, b) in zip(s, s[1:])), 'sparsity must not fall'
# end_step 0: three quarters of the 300 steps; the last quarter holds the final sparsity.
assert all(abs(v - 0.8) < 1e-4 for st, v in s if st >= 225), [x for x in s if x[0] >= 225][:3]
assert any(0 < v < 0.7 for st, v in s if st < 225)
"
check train_prune_config_written_back grep -q 'sparsity: 0.8' "$work/prun/config.yaml"
# Compressing that run to 50% fine-tunes under compress's pruner alone: the
# run's own prune: section (0.8) must not come back, so weights regrow.
"$GG_BIN" compress "$work/prun" --prune 0.5 --finetune-epochs 1 --out "$work/p50.safetensors" --quiet >/dev/null 2>&1
check compress_of_a_pruned_run_uses_its_own_sparsity py "
from parity_util import load_safetensors
t = load_safetensors('$work/p50.safetensors')
w = [t['layers.0.weight'], t['layers.2.weight']]
n = sum(x.size for x in w); z = sum(int((x == 0).sum()) for x in w)
assert int(0.5 * n + 0.5) <= z < 0.6 * n, (z, n, z / n)
"
"$GG_BIN" compress "$work/run" --sweep --finetune-epochs 0 --calib-samples 500 >"$work/sweep.out" 2>&1
check sweep_writes_compress_jsonl_into_the_run py "
import json
rows = [json.loads(l) for l in open('$work/run/compress.jsonl')]
assert rows[0]['type'] == 'compress_run' and rows[0]['finetune_epochs'] == 0, rows[0]
r = rows[1:]
assert [x['sparsity'] for x in r] == [0, 0.5, 0.75, 0.9, 0.95], r
assert all(x['type'] == 'compress' for x in r)
assert all(abs(x['reached'] - x['sparsity']) < 1e-5 for x in r), r
assert all(x['finetuned_accuracy'] is None for x in r)
assert r[0]['float_bytes'] / r[0]['int8_bytes'] >= 3.5, r[0]
assert r[0]['oneshot_accuracy'] > r[-1]['oneshot_accuracy'], r
assert abs(r[0]['int8_accuracy'] - r[0]['oneshot_accuracy']) <= 0.01, r[0]
"
check sweep_redraws_the_report bash -c "grep -q 'report: $work/run/report.html' '$work/sweep.out' && test '$work/run/report.html' -nt '$work/run/metrics.jsonl'"
bad_prune() { # KEY=VALUE... PATTERN: train refuses with exit 2 naming PATTERN, no run left
    local pattern=${*: -1} rc sets=()
    for kv in "${@:1:$#-1}"; do sets+=(--set "$kv"); done
    "$GG_BIN" train --steps 5 "${sets[@]}" --out "$work/badp" >/dev/null 2>"$work/badp.err"; rc=$?
    cat "$work/badp.err"
    [ $rc -eq 2 ] && grep -qF "$pattern" "$work/badp.err" && [ ! -e "$work/badp/model.safetensors" ]
}
check train_prune_refuses_sparsity_1 bad_prune prune.sparsity=1 prune.sparsity
check train_prune_refuses_a_bad_scope bad_prune prune.scope=everywhere prune.scope
check train_prune_refuses_initial_above_final bad_prune prune.sparsity=0.5 prune.initial_sparsity=0.7 'prune initial_sparsity'

usage_error() { "$GG_BIN" compress "$@" >/dev/null 2>&1; [ $? -eq 2 ]; }
check usage_needs_out usage_error "$work/run" --quantize int8
check usage_needs_work usage_error "$work/run" --out "$work/x.safetensors"
check usage_sparsity_below_one usage_error "$work/run" --prune 1.2 --out "$work/x.safetensors"
check usage_int8_only usage_error "$work/run" --quantize int4 --out "$work/x.safetensors"
check usage_no_file_left test ! -e "$work/x.safetensors"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
