#!/usr/bin/python3
"""Writes the fuzzers' seed corpora, tests/fuzz/corpus/<name>/: small valid and
near-valid inputs, each under 4 KiB. Safetensors files are laid out as
gradguard's writer lays them out (compact JSON with sorted keys, padded with
spaces to 8 bytes, __metadata__ with format, version and config). Rerun after
changing it: /usr/bin/python3 tests/fuzz/make_corpus.py"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(name, file, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (name, file, len(data))
    path = os.path.join(HERE, "corpus", name, file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)  # mtime 0: the same bytes on every run


# ---- IDX: 00 00 TYPE NDIM, big-endian u32 dims, big-endian values ----------
def idx(type_code, fmt, dims, values):
    head = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + b"".join(struct.pack(">" + fmt, v) for v in values)


put("idx", "u8_images.idx", idx(0x08, "B", [2, 3, 3], range(0, 180, 10)))
put("idx", "u8_images.idx.gz", gz(idx(0x08, "B", [2, 3, 3], range(0, 180, 10))))
put("idx", "u8_labels.idx", idx(0x08, "B", [5], [0, 1, 2, 9, 3]))
put("idx", "i8.idx", idx(0x09, "b", [4], [-128, -1, 0, 127]))
put("idx", "i16.idx.gz", gz(idx(0x0B, "h", [3], [-32768, 0, 32767])))
put("idx", "i32.idx", idx(0x0C, "i", [2, 2], [-1, 0, 1, 2**31 - 1]))
put("idx", "f32.idx", idx(0x0D, "f", [2, 3], [0.5, -1.25, 3.0, 1e-3, 7.0, -0.0]))
put("idx", "f64.idx.gz", gz(idx(0x0E, "d", [2], [3.141592653589793, -2.5e300])))
put("idx", "empty_dim.idx", idx(0x08, "B", [0, 28], []))
put("idx", "truncated.idx", idx(0x08, "B", [5], [1, 2, 3]))
put("idx", "trailing.idx", idx(0x08, "B", [2], [1, 2, 3]))
put("idx", "truncated.idx.gz", gz(idx(0x0D, "f", [4], [1, 2, 3, 4]))[:-6])

# ---- CSV ----------------------------------------------------------------------
put("csv", "header.csv", "x1,x2,x3,y\n0.5,1,-2,0\n1e-3,2.5,3,1\n-0.25,0,1,1\n")
put("csv", "no_header_crlf.csv", "1,2,3\r\n4,5,6\r\n\r\n7,8,9\r\n")
put("csv", "bom_quoted_header.csv", "\ufeff\"a\", \"b\"\n 1 , 2\n\n3,4\n")
put("csv", "one_column.csv", "y\n1\n2\n3\n")
put("csv", "missing_value.csv", "1,,2\n3,4,5\n")
put("csv", "ragged.csv", "a,b\n1,2\n3\n")
put("csv", "not_finite.csv", "a,b\n1,inf\n")


# ---- safetensors ----------------------------------------------------------------
def safetensors(tensors, meta=None):
    """tensors: (name, dtype, shape, raw bytes), laid out in name order."""
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + blob


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def f64(*v):
    return struct.pack("<%dd" % len(v), *v)


CONFIG = ("seed: 0\nmodel:\n  input: [4]\n  layers:\n    - dense: {units: 3}\nloss: mse\n")
META = {"format": "pt", "gradguard_version": "0.1.0", "gradguard_config": CONFIG}
W = [0.1 * i - 0.5 for i in range(12)]
B = [0.25, -0.5, 1.0]
# The harness's model: input [4], dense 3 -> layers.0.weight [3, 4], layers.0.bias [3].
put("safetensors", "dense3_f32.safetensors",
    safetensors([("layers.0.weight", "F32", [3, 4], f32(*W)),
                 ("layers.0.bias", "F32", [3], f32(*B))], META))
put("safetensors", "dense3_f64.safetensors",
    safetensors([("layers.0.weight", "F64", [3, 4], f64(*W)),
                 ("layers.0.bias", "F64", [3], f64(*B))], {"format": "pt"}))
put("safetensors", "dense3_optim.safetensors",
    safetensors([("layers.0.weight", "F32", [3, 4], f32(*W)),
                 ("layers.0.bias", "F32", [3], f32(*B)),
                 ("optim.step", "I64", [], struct.pack("<q", 7))], META))
put("safetensors", "wrong_shape.safetensors",
    safetensors([("layers.0.weight", "F32", [4, 3], f32(*W)),
                 ("layers.0.bias", "F32", [3], f32(*B))]))
put("safetensors", "not_finite.safetensors",
    safetensors([("layers.0.weight", "F32", [3, 4], f32(*W[:11], float("nan"))),
                 ("layers.0.bias", "F32", [3], f32(*B))]))
put("safetensors", "other_dtypes.safetensors",
    safetensors([("a", "BF16", [2], b"\x80\x3f\x00\x40"), ("b", "U8", [3], b"\x01\x02\x03"),
                 ("c", "BOOL", [1], b"\x01"), ("d", "I16", [0], b""),
                 ("e", "F16", [1, 1], b"\x00\x3c")]))
put("safetensors", "empty.safetensors", safetensors([]))
put("safetensors", "meta_only.safetensors", safetensors([], {"format": "pt"}))

# ---- int8 models (docs/compression.md) --------------------------------------------
# The harness's model: input [4], dense 3, relu, dense 2.
QMETA = {"format": "pt", "gradguard_version": "0.1.0", "gradguard_quantization": "int8"}


def i8(*v):
    return struct.pack("<%db" % len(v), *v)


def qlayer(i, out, inp, scale=0.02, zp=0, wscale=None, w=None, dtype="I8"):
    w = w if w is not None else [(7 * k) % 255 - 127 for k in range(out * inp)]
    return [("layers.%d.weight" % i, dtype, [out, inp], i8(*w)),
            ("layers.%d.weight_scale" % i, "F32", [out], f32(*(wscale or [0.01] * out))),
            ("layers.%d.bias" % i, "F32", [out], f32(*[0.1] * out)),
            ("layers.%d.input_scale" % i, "F32", [1], f32(scale)),
            ("layers.%d.input_zero_point" % i, "U8", [1], bytes([zp]))]


put("qmodel", "valid.safetensors", safetensors(qlayer(0, 3, 4, zp=64) + qlayer(2, 2, 3), QMETA))
put("qmodel", "zero_scale.safetensors",
    safetensors(qlayer(0, 3, 4, scale=0.0) + qlayer(2, 2, 3, wscale=[0, float("inf")]), QMETA))
put("qmodel", "zp_over_127.safetensors", safetensors(qlayer(0, 3, 4, zp=200) + qlayer(2, 2, 3), QMETA))
put("qmodel", "minus_128.safetensors",
    safetensors(qlayer(0, 3, 4, w=[-128] * 12) + qlayer(2, 2, 3), QMETA))
put("qmodel", "float_weight.safetensors",
    safetensors([t if t[0] != "layers.0.weight" else ("layers.0.weight", "F32", [3, 4], f32(*W))
                 for t in qlayer(0, 3, 4)] + qlayer(2, 2, 3), QMETA))
put("qmodel", "not_int8.safetensors", safetensors(qlayer(0, 3, 4) + qlayer(2, 2, 3), META))
put("qmodel", "missing_layer.safetensors", safetensors(qlayer(0, 3, 4), QMETA))

# ---- config YAML ---------------------------------------------------------------
# The example of docs/interfaces.md, as written there.
put("config", "interfaces_example.yaml", """seed: 0
data:     {dataset: fashion-mnist, validation: 5000, normalize: standardize, shuffle: true}
model:
  input: [784]                     # [1, 28, 28] for images, [T, features] for sequences
  layers:
    - dense: {units: 256, init: he_normal}
    - relu: {}
    - dense: {units: 10}
loss:      cross_entropy
optimizer: {name: adam, lr: 0.001}
schedule:  {name: cosine, warmup_steps: 200}
guard:     {clip: {mode: global_norm, max_norm: 1.0}, nonfinite: skip}
train:     {epochs: 10, batch_size: 64}
""")
with open(os.path.join(ROOT, "configs", "xor.yaml")) as f:
    put("config", "xor.yaml", f.read())
put("config", "short_forms.yaml", """optimizer: sgd
schedule: constant
guard:
  clip: none
  nonfinite: error
model:
  input: [2]
  layers: [{dense: {units: 4}}, tanh, {leaky_relu: {slope: 0.2}}, {elu: {alpha: 0.5}},
           sigmoid:, identity, {dense: {units: 2, bias: false, init: orthogonal, gain: 1.5}},
           softmax]
loss: soft_cross_entropy
""")
put("config", "schedules.yaml", """data: {dataset: "csv:/tmp/data.csv", targets: 2, test_fraction: 0.25}
optimizer: {name: nesterov, lr: 1e-2, weight_decay: 5e-4}
schedule:
  name: multistep
  milestones: [100, 200, 400]
  gamma: 0.5
train: {epochs: 3, batch_size: 32, steps: 1000, threads: 2}
""")
put("config", "onecycle_agc.yaml", """seed: 42
optimizer: {name: adamw, lr: 3e-4, beta1: 0.85, amsgrad: yes}
schedule: {name: onecycle, max_lr: 0.01, pct_start: 0.25, three_phase: true}
guard:
  clip: {mode: agc, agc_clip: 0.02, exclude: [last, layers.0]}
  spike: {window: 20, threshold: 4.5}
  recover: {snapshot_every: 50, max_attempts: 3, lr_factor: 0.25}
  backoff: {enabled: true, threshold: 2}
""")
put("config", "zclip_plateau.yaml", """guard: {clip: {mode: zclip, z_threshold: 3, warmup: 10}, monitor: {every: 1}}
schedule: {name: plateau, factor: 0.5, patience: 2, cooldown: 1, min_lr: 1e-6}
loss: bce_logits
data: {dataset: random-binary, samples: 64, features: 8, normalize: feature}
model: {input: [8], layers: [{dense: {units: 1, init: uniform, scale: 0.1}}]}
""")
put("config", "guard_off.yaml", "guard: off\nmodel:\n  input: [1, 28, 28]\n")
put("config", "empty.yaml", "")
put("config", "bad_key.yaml", "optimiser: {lr: 0.1}\n")
# The fully resolved default config, every key, as gradguard writes it.
put("config", "full_default.yaml", """seed: 0
data:
  dataset: fashion-mnist
  validation: 5000
  normalize: standardize
  shuffle: true
  samples: 100
  features: 10
  targets: 1
  test_fraction: 0.2
model:
  input: [784]
  layers:
    - dense: {units: 512, bias: true, init: he_normal, bias_init: torch_default, gain: 0, scale: 1}
    - relu: {}
    - dense: {units: 10, bias: true, init: torch_default, bias_init: torch_default, gain: 0, scale: 1}
loss: cross_entropy
optimizer:
  name: adam
  lr: 0.001
  momentum: 0
  dampening: 0
  nesterov: false
  weight_decay: 0
  beta1: 0.9
  beta2: 0.999
  eps: 1e-08
  amsgrad: false
schedule:
  name: cosine
  warmup_steps: 200
  warmup_start: 0
  step_size: 1000
  gamma: 0.1
  milestones: []
  alpha: 0.0001
  beta: 1
  power: 1
  total_steps: 0
  min_lr: 0
  max_lr: 0
  pct_start: 0.3
  div_factor: 25
  final_div_factor: 10000
  three_phase: false
  cycle_momentum: true
  base_momentum: 0.85
  max_momentum: 0.95
  restart_steps: 0
  restart_mult: 1
  factor: 0.1
  patience: 10
  threshold: 0.0001
  cooldown: 0
guard:
  enabled: true
  clip:
    mode: global_norm
    max_norm: 1
    norm_type: 2
    value: 1
    agc_clip: 0.01
    agc_eps: 0.001
    exclude: [last]
    percentile: 10
    history: 1000
    z_threshold: 2.5
    z_alpha: 0.97
    warmup: 25
  nonfinite: skip
  monitor:
    every: 10
  spike:
    enabled: true
    window: 50
    threshold: 6
    min_history: 8
  recover:
    enabled: true
    snapshot_every: 100
    max_attempts: 5
    lr_factor: 0.5
    warmup_steps: 100
  backoff:
    enabled: false
    threshold: 1
    factor: 10
checkpoint:
  every_steps: 0
  every_minutes: 5
  keep: 2
train:
  epochs: 10
  batch_size: 64
  steps: 0
  threads: 0
  eval_batch_size: 1000
""")


# ---- --set KEY=VALUE -----------------------------------------------------------
for i, line in enumerate([
        "optimizer.lr=0.01",
        "model.layers.0.dense.units=512",
        "guard.clip.mode=value",
        "model.layers=[{dense: {units: 8}}, relu, {dense: {units: 2}}]",
        "model.layers.1=leaky_relu: {slope: 0.2}",
        "model.layers.0.dense={units: 7, init: normal}",
        "schedule.milestones=[10, 20, 40]",
        "guard.clip.exclude=[last, layers.0]",
        "model.input=[1, 28, 28]",
        "data.dataset=csv:/tmp/data.csv",
        "optimizer=sgd",
        "guard={clip: {mode: norm, norm_type: inf}}",
        "seed=18446744073709551615",
        "train.steps=1e6",
        "schedule.name=onecycle",
]):
    put("config_set", "set_%02d.txt" % i, line)
