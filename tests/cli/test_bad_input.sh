#!/usr/bin/env bash
# Bad input to `gradguard train` and `eval`: each case must exit with
# status 2, print one line naming the file (and line:column) or key, what
# was found and what was expected, and leave no run directory behind.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
work=$(mktemp -d /tmp/gg-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# expect NAME STATUS PATTERN... -- ARGS...: run gradguard ARGS with --out
# under $work, check the exit status, that stderr is one line matching
# every PATTERN (extended regex), and that the run directory was not made.
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

# A small IDX data set: 20 images of 4x4 and their labels, in $1.
make_idx() {
    /usr/bin/python3 - "$1" "${2:-20}" <<'EOF'
import gzip, os, struct, sys
d, nlab = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for prefix in ("train", "t10k"):
    with gzip.open(f"{d}/{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBIII", 0, 8, 3, 20, 4, 4) + bytes(range(256))[:16] * 20)
    n = nlab if prefix == "train" else 20
    with gzip.open(f"{d}/{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBI", 0, 8, 1, n) + bytes(i % 3 for i in range(n)))
EOF
}
IDX_OK="$work/idx-ok"; make_idx "$IDX_OK"
small=(--set data.validation=0 --set model.input=[16] --set model.layers.0.dense.units=8)

# The good case first, so a failure below means the input, not the set-up.
if "$GG_BIN" train "${small[@]}" --set "data.dataset=idx:$IDX_OK" --steps 3 --out "$work/good" --quiet \
    >/dev/null 2>"$work/stderr" && [ -f "$work/good/model.safetensors" ]; then
    passed=$((passed + 1)); echo "ok   good_idx_trains"
else
    failed=$((failed + 1)); echo "FAIL good_idx_trains"; cat "$work/stderr"
fi

# Data files.
expect missing_data_dir 2 "nowhere/train-images-idx3-ubyte" "No such file" -- \
    train "${small[@]}" --set data.dataset=idx:$work/nowhere
cp -r "$IDX_OK" "$work/idx-trunc"
head -c 40 "$IDX_OK/train-images-idx3-ubyte.gz" >"$work/idx-trunc/train-images-idx3-ubyte.gz"
expect truncated_gzip 2 "idx-trunc/train-images-idx3-ubyte.gz" "truncated|corrupt|unexpected end" -- \
    train "${small[@]}" --set data.dataset=idx:$work/idx-trunc
cp -r "$IDX_OK" "$work/idx-raw-trunc"
gzip -dc "$IDX_OK/train-images-idx3-ubyte.gz" | head -c 100 >"$work/idx-raw-trunc/train-images-idx3-ubyte"
rm "$work/idx-raw-trunc/train-images-idx3-ubyte.gz"
expect truncated_raw 2 "train-images-idx3-ubyte" "truncated" "announces 320 bytes" -- \
    train "${small[@]}" --set data.dataset=idx:$work/idx-raw-trunc
cp -r "$IDX_OK" "$work/idx-magic"
printf 'PK\003\004garbage-garbage' | gzip >"$work/idx-magic/train-images-idx3-ubyte.gz"
expect wrong_idx_magic 2 "idx-magic/train-images-idx3-ubyte.gz" "magic" "expected" -- \
    train "${small[@]}" --set data.dataset=idx:$work/idx-magic
make_idx "$work/idx-labels" 19
expect label_count_mismatch 2 "train-labels-idx1-ubyte.gz" "19 labels" "20 images" -- \
    train "${small[@]}" --set data.dataset=idx:$work/idx-labels
printf 'a,b,label\n1,2,0\n3,x,1\n' >"$work/bad.csv"
expect csv_not_a_number 2 "bad.csv:3:3" "expected a number" "'x'" -- \
    train --set data.dataset=csv:$work/bad.csv --set data.validation=0 --set model.input=[2]

# Config files.
printf 'optimizer:\n  lr: 0.1\n   name: sgd\n' >"$work/syntax.yaml"
expect yaml_syntax_error 2 "syntax.yaml:[0-9]+:[0-9]+" -- train "$work/syntax.yaml"
printf 'seed: 1\noptimiser: {lr: 0.1}\n' >"$work/unknown.yaml"
expect unknown_key_suggests 2 "unknown.yaml:2:1" "optimiser" "did you mean 'optimizer'" -- \
    train "$work/unknown.yaml"
printf 'optimizer: {lr: -1}\n' >"$work/range.yaml"
expect negative_lr 2 "range.yaml:1:17" "optimizer.lr" "> 0" "-1" -- train "$work/range.yaml"
printf 'model:\n  layers:\n    - dense: {units: 0}\n' >"$work/units.yaml"
expect zero_units 2 "units.yaml:3:22" "units" ">= 1" -- train "$work/units.yaml"
printf 'train: {epochs: many}\n' >"$work/type.yaml"
expect wrong_type 2 "type.yaml:1:17" "train.epochs" "integer" "many" -- train "$work/type.yaml"
expect missing_config 2 "absent.yaml" "No such file" -- train "$work/absent.yaml"
expect set_unknown_key 2 "--set" "optimizer.lrr" "did you mean 'optimizer.lr'|did you mean 'lr'" -- \
    train --set optimizer.lrr=0.1
expect set_bad_value 2 "--set" "train.batch_size" "0" -- train --set train.batch_size=0
expect set_without_equals 2 "--set" "KEY=VALUE" -- train --set optimizer.lr
expect unknown_option 2 "unknown option '--frobnicate'" -- train --frobnicate

# Shapes that do not chain, refused when the graph is built.
expect dense_input_mismatch 2 "784" "16" -- \
    train --set "data.dataset=idx:$IDX_OK" --set data.validation=0

# Weights for --init.
"$GG_BIN" train "${small[@]}" --set "data.dataset=idx:$IDX_OK" --steps 1 --out "$work/w8" --quiet >/dev/null 2>&1
expect init_wrong_shape 2 "layers.0.weight" "shape \[8, 16\]" "expects \[4, 16\]" -- \
    train "${small[@]}" --set "data.dataset=idx:$IDX_OK" --set model.layers.0.dense.units=4 \
    --init "$work/w8/model.safetensors"
expect init_wrong_names 2 "no tensor .layers.3.weight." -- \
    train --set "data.dataset=idx:$IDX_OK" --set data.validation=0 --set model.input=[16] \
    --set 'model.layers=[{dense: {units: 8}}, relu, relu, {dense: {units: 10}}]' \
    --init "$work/w8/model.safetensors"
head -c 30 "$work/w8/model.safetensors" >"$work/trunc.safetensors"
expect init_truncated 2 "trunc.safetensors" -- \
    train "${small[@]}" --set "data.dataset=idx:$IDX_OK" --init "$work/trunc.safetensors"
expect init_missing 2 "absent.safetensors" "No such file" -- \
    train "${small[@]}" --set "data.dataset=idx:$IDX_OK" --init "$work/absent.safetensors"

# eval.
"$GG_BIN" eval "$work/w8" --json >"$work/eval.json" 2>"$work/stderr"
if [ $? -eq 0 ] && grep -q '"accuracy"' "$work/eval.json"; then
    passed=$((passed + 1)); echo "ok   eval_run_dir_json"
else
    failed=$((failed + 1)); echo "FAIL eval_run_dir_json"; cat "$work/stderr"
fi
"$GG_BIN" eval "$work/nowhere" >/dev/null 2>"$work/stderr"
if [ $? -eq 2 ] && grep -q "nowhere" "$work/stderr"; then
    passed=$((passed + 1)); echo "ok   eval_missing_model"
else
    failed=$((failed + 1)); echo "FAIL eval_missing_model"; cat "$work/stderr"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
