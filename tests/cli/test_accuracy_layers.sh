#!/usr/bin/env bash
# The shipped CNN and RNN configs: fashion-cnn reaches >= 92% test accuracy;
# on the adding problem (T = 100) the LSTM reaches test MSE < 0.01 while the
# vanilla RNN fails to learn (test MSE stays near the 0.167 of always
# answering 1) and the guard's diagnosis says why. Every shipped config's
# weights load into the equivalent PyTorch model (load_state_dict strict).
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
: "${GG_SOURCE_DIR:?}"
work=$(mktemp -d /tmp/gg-layers-acc-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
verdict() { # NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
summary() { # RUN KEY: the summary line's value
    /usr/bin/python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl') if '\"summary\"' in l][-1][sys.argv[2]])" "$1" "$2"
}
train() { # NAME: trains configs/NAME.yaml into $work/NAME, prints its last lines
    local start=$SECONDS
    "$GG_BIN" train "$GG_SOURCE_DIR/configs/$1.yaml" --out "$work/$1" --quiet >"$work/$1.out" 2>&1
    local rc=$?
    echo "  $1: exit $rc in $((SECONDS - start)) s: $(tail -1 "$work/$1.out")"
    return $rc
}

train fashion-cnn
acc=$(summary "$work/fashion-cnn" test_acc)
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.92 else 1)" "$acc"
verdict "fashion-cnn reaches >= 92% test accuracy ($acc)" $?

train adding-lstm
mse=$(summary "$work/adding-lstm" test_loss)
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 0.01 else 1)" "$mse"
verdict "adding-lstm (T = 100) reaches test MSE < 0.01 ($mse)" $?

train adding-rnn
mse=$(summary "$work/adding-rnn" test_loss)
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.1 else 1)" "$mse"
verdict "adding-rnn (T = 100) fails to learn: test MSE $mse stays near 0.167" $?
grep -q '"kind":"diagnosis","message":"vanishing gradients through time' "$work/adding-rnn/metrics.jsonl"
verdict "adding-rnn is diagnosed: vanishing gradients through time" $?

# Every shipped config's weights load into the PyTorch model of the same
# module tree (strict), and give the same outputs.
for cfg in fashion-cnn fashion-resnet adding-lstm adding-gru adding-rnn; do
    if [ ! -s "$work/$cfg/model.safetensors" ]; then
        "$GG_BIN" train "$GG_SOURCE_DIR/configs/$cfg.yaml" --steps 20 --out "$work/$cfg" --silent
    fi
    /usr/bin/python3 "$GG_SOURCE_DIR/tests/parity/torch_models.py" "$GG_SOURCE_DIR/configs/$cfg.yaml" \
        "$work/$cfg/model.safetensors" >"$work/$cfg.torch" 2>&1
    rc=$?
    cat "$work/$cfg.torch"
    verdict "$cfg's weights load into the equivalent PyTorch model and agree" $rc
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
