#!/usr/bin/env bash
# `gradguard train` and `eval` end to end on small runs: the files of a run
# directory, metrics.jsonl's shape, --print-config, --steps, determinism
# across thread counts, XOR to loss < 0.01, and eval of a saved model.
. "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"

check version "$GG_BIN" --version
check help_lists_commands bash -c "'$GG_BIN' --help | grep -q 'train' && '$GG_BIN' train --help | grep -q -- '--print-config'"

# A short default run: 120 steps of the default model on Fashion-MNIST.
"$GG_BIN" train --steps 120 --out "$work/run" --quiet >"$work/run.out" 2>&1
check default_run_writes_its_files test -s "$work/run/config.yaml" -a -s "$work/run/metrics.jsonl" \
    -a -s "$work/run/model.safetensors"
check final_line_names_accuracy_and_run_dir grep -Eq "test accuracy [0-9.]+% .*run directory: $work/run" "$work/run.out"
check metrics_have_one_step_line_per_step py "
import json, sys
lines = [json.loads(l) for l in open('$work/run/metrics.jsonl')]
steps = [l for l in lines if l['type'] == 'step']
assert [s['step'] for s in steps] == list(range(1, 121)), 'steps not 1..120'
for s in steps:
    for k in ('epoch', 'loss', 'lr', 'grad_norm'):
        assert k in s, k
    assert s['grad_norm'] > 0 and s['loss'] > 0
assert [l for l in lines if l['type'] == 'epoch'], 'no epoch line'
summary = [l for l in lines if l['type'] == 'summary']
assert len(summary) == 1 and summary[0]['test_acc'] > 0.5, summary
"
check print_config_matches_written_config bash -c "'$GG_BIN' train --steps 120 --print-config | diff - '$work/run/config.yaml'"
check print_config_applies_set bash -c "'$GG_BIN' train --set optimizer.lr=0.25 --print-config | grep -q 'lr: 0.25'"
check written_config_reloads bash -c "'$GG_BIN' train '$work/run/config.yaml' --print-config | diff - '$work/run/config.yaml'"

# eval reads the run directory and the bare safetensors file alike.
check eval_dir_and_file_agree bash -c "
    a=\$('$GG_BIN' eval '$work/run' --json) && b=\$('$GG_BIN' eval '$work/run/model.safetensors' --json) &&
    [ \"\$a\" = \"\$b\" ] && echo \"\$a\" | grep -q '\"samples\":10000'"
check eval_matches_training_summary py "
import json, subprocess
s = [json.loads(l) for l in open('$work/run/metrics.jsonl') if '\"summary\"' in l][0]
e = json.loads(subprocess.check_output(['$GG_BIN', 'eval', '$work/run', '--json']))
assert abs(e['accuracy'] - s['test_acc']) < 1e-9, (e, s)
"

# Reruns at one thread count give the same bytes (every reduction has a
# fixed order); another thread count splits products differently, so its
# weights agree closely but not bit for bit.
"$GG_BIN" train --steps 40 --threads 2 --out "$work/t2" --quiet >/dev/null 2>&1
"$GG_BIN" train --steps 40 --threads 2 --out "$work/t2b" --quiet >/dev/null 2>&1
"$GG_BIN" train --steps 40 --threads 1 --out "$work/t1" --quiet >/dev/null 2>&1
check reruns_are_bit_identical cmp "$work/t2/model.safetensors" "$work/t2b/model.safetensors"
check thread_counts_agree_closely py "
import json, struct
import numpy as np
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    dt = {'F32': '<f4', 'F64': '<f8'}
    return {k: np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dt[v['dtype']])
            for k, v in h.items() if k != '__metadata__'}
a, b = load('$work/t1/model.safetensors'), load('$work/t2/model.safetensors')
for k in a:
    rel = np.abs(a[k] - b[k]).max() / (np.abs(a[k]).max() + 1e-12)
    assert rel < 1e-4, (k, rel)
"

# --steps counts from the start of the run; epochs stop a run too.
"$GG_BIN" train --set train.epochs=1 --set train.batch_size=500 --out "$work/ep" --quiet >/dev/null 2>&1
check epochs_bound_the_run py "
import json
steps = [json.loads(l) for l in open('$work/ep/metrics.jsonl') if '\"step\"' in l and '\"type\":\"step\"' in l]
assert len(steps) == 110, len(steps)
"

# XOR with the 2-4-1 sigmoid network trains to a loss below 0.01.
"$GG_BIN" train "$GG_SOURCE_DIR/configs/xor.yaml" --out "$work/xor" --quiet >/dev/null 2>&1
check xor_loss_below_0_01 py "
import json
s = [json.loads(l) for l in open('$work/xor/metrics.jsonl') if '\"summary\"' in l][0]
assert s['test_loss'] < 0.01 and s['test_acc'] == 1.0, s
"

# The example program of the C API builds and runs (2 epochs).
if [ -n "${GG_EXAMPLE:-}" ]; then
    check example_program_trains bash -c "cd '$work' && '$GG_EXAMPLE' | grep -Eq 'test accuracy (8[0-9]|9[0-9])'"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
