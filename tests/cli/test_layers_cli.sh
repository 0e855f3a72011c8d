#!/usr/bin/env bash
# `gradguard train` with the new layer kinds and early stopping, on the
# built-in xor and random-binary tasks (a few steps each): a residual MLP
# with batch norm and dropout trains and saves PyTorch's names (running
# statistics included, num_batches_tracked an int64 scalar), its config
# round-trips through --print-config, early stopping stops the run, logs
# the event and ends with the best epoch's weights (also when resumed), and
# bad layer configs exit 2 with one line naming the layer's path.
. "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"

# expect NAME STATUS PATTERN... -- ARGS...: gradguard ARGS (with --out under
# $work) exits with STATUS and prints one line on stderr matching every
# PATTERN (extended regex), and makes no run directory.
expect() {
    local name=$1 want=$2; shift 2
    local patterns=()
    while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
    shift
    local out="$work/run-$name"
    "$GG_BIN" "$@" --out "$out" --quiet >"$work/stdout" 2>"$work/stderr"
    local got=$? ok=1 why=""
    [ "$got" -eq "$want" ] || { ok=0; why="exit status $got, expected $want"; }
    [ "$(wc -l <"$work/stderr")" -eq 1 ] || { ok=0; why="$why; stderr has $(wc -l <"$work/stderr") lines"; }
    for p in "${patterns[@]}"; do
        grep -Eq -- "$p" "$work/stderr" || { ok=0; why="$why; stderr lacks /$p/"; }
    done
    [ -e "$out" ] && { ok=0; why="$why; run directory $out was created"; }
    if [ $ok -eq 1 ]; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name: $why"; sed 's/^/     stderr: /' "$work/stderr"
    fi
}

# ---- a residual MLP with batch norm and dropout on random-binary ------------
cat >"$work/res.yaml" <<'EOF'
seed: 3
data: {dataset: random-binary, samples: 200, features: 10, validation: 40}
model:
  input: [10]
  layers:
    - dense: {units: 16}
    - batch_norm
    - relu
    - residual:
        layers:
          - dense: {units: 16}
          - batch_norm: {momentum: 0.2}
          - prelu
          - dropout: {p: 0.2}
          - dense: {units: 16}
    - residual:
        layers:
          - dense: {units: 8}
          - layer_norm
          - residual:
              layers: [{dense: {units: 8}}, {dropout: {p: 0.1}}]
    - dropout: {p: 0.1}
    - dense: {units: 2}
loss: cross_entropy
schedule: {name: constant, warmup_steps: 0}
train: {epochs: 2, batch_size: 16}
EOF
"$GG_BIN" train "$work/res.yaml" --out "$work/res" --quiet >"$work/res.out" 2>&1
check residual_mlp_trains bash -c "grep -q 'test accuracy' '$work/res.out' && test -s '$work/res/model.safetensors'"
check residual_mlp_saves_pytorch_names py "
import parity_util as pu, numpy as np
w = pu.load_safetensors('$work/res/model.safetensors')
want = {
  'layers.0.weight': (16, 10), 'layers.0.bias': (16,),
  'layers.1.weight': (16,), 'layers.1.bias': (16,),
  'layers.1.running_mean': (16,), 'layers.1.running_var': (16,), 'layers.1.num_batches_tracked': (),
  'layers.3.layers.0.weight': (16, 16), 'layers.3.layers.0.bias': (16,),
  'layers.3.layers.1.weight': (16,), 'layers.3.layers.1.bias': (16,),
  'layers.3.layers.1.running_mean': (16,), 'layers.3.layers.1.running_var': (16,),
  'layers.3.layers.1.num_batches_tracked': (),
  'layers.3.layers.2.weight': (1,),
  'layers.3.layers.4.weight': (16, 16), 'layers.3.layers.4.bias': (16,),
  'layers.4.layers.0.weight': (8, 16), 'layers.4.layers.0.bias': (8,),
  'layers.4.layers.1.weight': (8,), 'layers.4.layers.1.bias': (8,),
  'layers.4.layers.2.layers.0.weight': (8, 8), 'layers.4.layers.2.layers.0.bias': (8,),
  'layers.4.proj.weight': (8, 16),
  'layers.6.weight': (2, 8), 'layers.6.bias': (2,),
}
assert set(w) == set(want), (sorted(set(w) ^ set(want)))
for k, shape in want.items():
    assert w[k].shape == shape, (k, w[k].shape, shape)
for k in ('layers.1.num_batches_tracked', 'layers.3.layers.1.num_batches_tracked'):
    assert w[k].dtype == np.int64, (k, w[k].dtype)
    assert int(w[k]) == 16, (k, int(w[k]))  # 2 epochs of 8 batches
assert w['layers.1.running_var'].dtype in (np.float32, np.float64)
assert np.all(w['layers.1.running_var'] > 0) and np.any(w['layers.1.running_var'] != 1)
assert np.any(w['layers.1.running_mean'] != 0)
assert np.all(w['layers.3.layers.2.weight'] != 0.25)  # the PReLU slope trained
"
check residual_config_round_trips bash -c "
    '$GG_BIN' train '$work/res.yaml' --print-config >'$work/a.yaml' &&
    diff '$work/a.yaml' '$work/res/config.yaml' &&
    '$GG_BIN' train '$work/a.yaml' --print-config | diff - '$work/a.yaml' &&
    grep -q '^              layers:\$' '$work/a.yaml' &&
    grep -Eq '^                - dropout: \{p: 0.1\}\$' '$work/a.yaml'"
check set_reaches_into_residual bash -c "
    '$GG_BIN' train '$work/res.yaml' --set model.layers.4.residual.layers.2.residual.layers.0.dense.units=5 \
        --print-config | diff '$work/a.yaml' - | grep -c '^[<>]' | grep -qx 2 &&
    '$GG_BIN' train '$work/res.yaml' --set model.layers.4.residual.layers.2.residual.layers.0.dense.units=5 \
        --print-config | grep -q '^                - dense: {units: 5,'"
# The saved model evaluates, and --init takes it back (names, shapes, buffers).
check saved_model_evaluates bash -c "'$GG_BIN' eval '$work/res' --json | grep -q '\"samples\":40'"
"$GG_BIN" train "$work/res.yaml" --init "$work/res/model.safetensors" --steps 1 --out "$work/res-init" \
    --quiet >"$work/init.out" 2>&1
check init_from_saved_model test -s "$work/res-init/model.safetensors"

# ---- the same kinds on xor ----------------------------------------------------
"$GG_BIN" train --set data.dataset=xor --set data.validation=0 --set 'model.input=[2]' \
    --set 'model.layers=[{dense: {units: 8}}, batch_norm, tanh, {residual: {layers: [{dense: {units: 8}}, {dropout: {p: 0.25}}, tanh]}}, {dense: {units: 2}}]' \
    --set train.batch_size=4 --steps 6 --out "$work/xor" --quiet >"$work/xor.out" 2>&1
check xor_residual_batch_norm_trains py "
import json, parity_util as pu
rows = [json.loads(l) for l in open('$work/xor/metrics.jsonl')]
steps = [r for r in rows if r['type'] == 'step']
assert len(steps) == 6, len(steps)
w = pu.load_safetensors('$work/xor/model.safetensors')
assert int(w['layers.1.num_batches_tracked']) == 6, w['layers.1.num_batches_tracked']
assert 'layers.3.layers.0.weight' in w and 'layers.3.proj.weight' not in w
"

# ---- early stopping ----------------------------------------------------------------
es=(--set data.dataset=random-binary --set data.samples=200 --set data.validation=40
    --set 'model.input=[10]' --set 'model.layers=[{dense: {units: 32}}, batch_norm, relu, {dense: {units: 2}}]'
    --set schedule.name=constant --set optimizer.lr=0.05 --set train.epochs=50 --set train.batch_size=16
    --set train.early_stopping.patience=1)
"$GG_BIN" train "${es[@]}" --out "$work/es" >"$work/es.out" 2>&1
check early_stop_ends_before_the_configured_epochs py "
import json
rows = [json.loads(l) for l in open('$work/es/metrics.jsonl')]
epochs = [r for r in rows if r['type'] == 'epoch']
stops = [r for r in rows if r['type'] == 'event' and r['kind'] == 'early_stop']
assert 2 <= len(epochs) < 50, len(epochs)
assert len(stops) == 1, stops
assert 'val_loss did not improve for 1 epochs' in stops[0]['message'], stops[0]
# patience 1: the last epoch is the first without improvement
v = [e['val_loss'] for e in epochs]
assert v[-1] >= min(v[:-1]), v
assert all(v[i] < min(v[:i]) for i in range(1, len(v) - 1)), v
summary = [r for r in rows if r['type'] == 'summary']
assert summary and summary[0]['epochs'] == len(epochs), summary
"
check early_stop_is_printed grep -q 'early stopping: val_loss did not improve' "$work/es.out"
# restore_best: the model saved is the best epoch's: its validation loss is that epoch's.
check early_stop_restores_the_best_epoch py "
import json, subprocess
rows = [json.loads(l) for l in open('$work/es/metrics.jsonl')]
v = [r['val_loss'] for r in rows if r['type'] == 'epoch']
best = min(range(len(v)), key=lambda i: v[i])
ev = [r for r in rows if r['type'] == 'event' and r['kind'] == 'restore_best']
assert len(ev) == 1 and 'epoch %d' % (best + 1) in ev[0]['message'], (ev, best)
e = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/es', '--split', 'val', '--json']))
assert abs(e['loss'] - v[best]) <= 1e-6 * abs(v[best]), (e, v)
"
# A run that had stopped, resumed, stays stopped: no step is taken.
cp -r "$work/es" "$work/es-resume"
"$GG_BIN" train --resume "$work/es-resume" --quiet >"$work/resume.out" 2>&1
check resumed_stopped_run_takes_no_step py "
import json, subprocess
a = [json.loads(l) for l in open('$work/es/metrics.jsonl')]
b = [json.loads(l) for l in open('$work/es-resume/metrics.jsonl')]
sa = [r['step'] for r in a if r['type'] == 'step']
sb = [r['step'] for r in b if r['type'] == 'step']
assert sa == sb, (len(sa), len(sb))
v = [r['val_loss'] for r in a if r['type'] == 'epoch']
e = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/es-resume', '--split', 'val', '--json']))
assert abs(e['loss'] - min(v)) <= 1e-6 * min(v), (e, v)
"
# restore_best: false keeps the last epoch's weights; patience 0 runs every epoch.
"$GG_BIN" train "${es[@]}" --set train.early_stopping.restore_best=false --out "$work/es-last" --quiet \
    >/dev/null 2>&1
check no_restore_keeps_the_last_epoch py "
import json, subprocess
rows = [json.loads(l) for l in open('$work/es-last/metrics.jsonl')]
assert not [r for r in rows if r['type'] == 'event' and r['kind'] == 'restore_best']
assert [r for r in rows if r['type'] == 'event' and r['kind'] == 'early_stop']
v = [r['val_loss'] for r in rows if r['type'] == 'epoch']
e = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/es-last', '--split', 'val', '--json']))
assert abs(e['loss'] - v[-1]) <= 1e-6 * v[-1], (e, v)
"
"$GG_BIN" train "${es[@]}" --set train.early_stopping.patience=0 --set train.epochs=4 --out "$work/es-off" \
    --quiet >/dev/null 2>&1
check patience_0_runs_every_epoch py "
import json
rows = [json.loads(l) for l in open('$work/es-off/metrics.jsonl')]
assert len([r for r in rows if r['type'] == 'epoch']) == 4
assert not [r for r in rows if r['type'] == 'event' and r['kind'] in ('early_stop', 'restore_best')]
"

# ---- bad layer configs -------------------------------------------------------------
rb=(--set data.dataset=random-binary --set data.validation=20 --set 'model.input=[10]')
cat >"$work/typo.yaml" <<'EOF'
model:
  input: [10]
  layers:
    - residual:
        layers:
          - dense: {units: 10}
          - residual:
              layers:
                - batch_norm: {momentun: 0.2}
EOF
expect nested_unknown_key 2 "typo.yaml:9:32:" "unknown key 'momentun'" \
    "model\.layers\.0\.residual\.layers\.1\.residual\.layers\.0\.batch_norm" "did you mean 'momentum'" -- \
    train "$work/typo.yaml"
printf 'model:\n  layers:\n    - conv2d: {kernel: 3}\n' >"$work/nofilters.yaml"
expect conv_without_filters 2 "nofilters.yaml:3:7:" "model\.layers\.0\.conv2d: filters is required" -- \
    train "$work/nofilters.yaml"
expect residual_without_layers 2 "--set model\.layers\.1" "model\.layers\.1\.residual: layers is required" -- \
    train "${rb[@]}" --set 'model.layers.1=residual'
expect lstm_without_units 2 "model\.layers\.0\.residual\.layers\.0\.lstm: units is required" -- \
    train "${rb[@]}" --set 'model.layers=[{residual: {layers: [lstm]}}, {dense: {units: 2}}]'
expect nested_dropout_p_1 2 "--set model\.layers\.3\.residual\.layers\.3\.dropout\.p" "\[0, 1\)" "found '1'" -- \
    train "$work/res.yaml" --set model.layers.3.residual.layers.3.dropout.p=1
expect layer_norm_dims 2 "model\.layers\.1\.layer_norm\.dims" "\[1, 3\]" -- \
    train "${rb[@]}" --set 'model.layers=[{dense: {units: 4}}, {layer_norm: {dims: 0}}, {dense: {units: 2}}]'
expect early_stopping_metric 2 "train\.early_stopping\.metric" "val_loss, val_acc" -- \
    train "${rb[@]}" --set train.early_stopping.metric=accuracy
# Shape errors at build name the layer (nested ones by their full name).
expect conv_on_flat_input 2 "layers\.0 \(conv2d\)" "input shape \[10\]" "needs an image" -- \
    train "${rb[@]}" --set 'model.layers=[{conv2d: {filters: 2, kernel: 3}}, flatten, {dense: {units: 2}}]'
expect dense_on_sequence 2 "layers\.1 \(dense\)" "\[5, 2\]" "last" -- \
    train "${rb[@]}" --set 'model.input=[5,2]' --set 'model.layers=[{gru: {units: 2, sequence: true}}, {dense: {units: 2}}]'
expect dense_on_image 2 "layers\.0 \(dense\)" "\[1, 2, 5\]" "flatten" -- \
    train "${rb[@]}" --set 'model.input=[1,2,5]' --set 'model.layers=[{dense: {units: 2}}]'
expect nested_conv_on_flat_input 2 "layers\.0\.layers\.1 \(conv2d\)" "needs an image" -- \
    train "${rb[@]}" --set 'model.layers=[{residual: {layers: [relu, {conv2d: {filters: 2, kernel: 1}}]}}, {dense: {units: 2}}]'
expect residual_image_to_flat 2 "layers\.0 \(residual\)" "\[1, 2, 5\] to \[3\]" "projection" -- \
    train "${rb[@]}" --set 'model.input=[1,2,5]' --set 'model.layers=[{residual: {layers: [flatten, {dense: {units: 3}}]}}, {dense: {units: 2}}]'

# A weights file whose running_var has the wrong shape, and one whose
# num_batches_tracked is a float, are refused naming the tensor.
py "
import parity_util as pu, numpy as np
w = pu.load_safetensors('$work/res/model.safetensors')
bad = dict(w); bad['layers.3.layers.1.running_var'] = np.ones(5, dtype=w['layers.1.running_var'].dtype)
pu.save_safetensors('$work/bad-var.safetensors', bad, use_library=False)
bad = dict(w); bad['layers.1.num_batches_tracked'] = np.float32(3)
pu.save_safetensors('$work/bad-count.safetensors', bad, use_library=False)
f32 = {k: (v.astype(np.float32) if v.dtype.kind == 'f' else v) for k, v in w.items()}
pu.save_safetensors('$work/f32.safetensors', f32, use_library=False)
"
expect init_running_var_wrong_shape 2 "bad-var\.safetensors" "layers\.3\.layers\.1\.running_var" "\[5\]" "\[16\]" -- \
    train "$work/res.yaml" --init "$work/bad-var.safetensors"
expect init_count_not_int64 2 "bad-count\.safetensors" "layers\.1\.num_batches_tracked" "F32" "I64" -- \
    train "$work/res.yaml" --init "$work/bad-count.safetensors"
"$GG_BIN" train "$work/res.yaml" --init "$work/f32.safetensors" --steps 1 --out "$work/f32-init" --quiet \
    >"$work/f32.out" 2>&1
check init_from_f32_file test -s "$work/f32-init/model.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
