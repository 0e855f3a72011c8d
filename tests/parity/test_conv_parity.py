#!/usr/bin/python3
"""PyTorch parity of the convolution, pooling and reshaping layers through
gg_layer_probe (tests/parity/probe_util.py): the same input, weights and
output gradient dy go to gradguard (float32) and to torch (float64, the
reference); y, dx and every parameter gradient must agree to a relative
norm error ||a - b|| / ||b|| of 1e-4.

Cases: nn.Conv2d with padding, stride 2, dilation 2, rectangular kernels
and strides, 1x1 (with and without padding), with and without bias, and
one as large as the benchmark CNN's second layer (threaded slices);
nn.MaxPool2d and nn.AvgPool2d (count_include_pad) with and without padding
and with overlapping and rectangular windows; global average pooling
(nn.AdaptiveAvgPool2d(1) then flatten); flatten; the last step of a
sequence; and the whole benchmark CNN (conv-relu-pool twice, flatten,
dense) in one probe.

One line per case with its worst tensor; then the worst error overall and
"N passed, M failed"; the exit status is 0 only when every case passed.
Environment: GG_PROBE (the probe binary), set by CTest.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_util as pr  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

torch.set_num_threads(1)

RTOL = 1e-4


def yaml_value(v):
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(str(e) for e in v)
    return str(v)


def layer_yaml(kind, opts=None):
    if not opts:
        return "\n    - %s" % kind
    return "\n    - %s: {%s}" % (kind, ", ".join("%s: %s" % (k, yaml_value(v))
                                                for k, v in opts.items()))


def f32(a):
    return np.asarray(a, dtype=np.float32)


def pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


class Last(nn.Module):
    def forward(self, x):
        return x[:, -1]


def torch_run(model, x, dy):
    """y, dx and grad.layers.NAME of an nn.Sequential in float64."""
    model = model.double()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = model(xt)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    out = {"y": y.detach().numpy(), "dx": xt.grad.numpy()}
    for name, p in model.named_parameters():
        out["grad.layers." + name] = p.grad.numpy()
    return out


def run_case(shape, layers, model, seed):
    """layers: [(kind, opts)] for the config; model: the matching
    nn.Sequential (parameters initialised by torch, then sent to both)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x = f32(rng.standard_normal(shape))
    state = {"layers." + k: f32(v.detach().numpy()) for k, v in model.state_dict().items()}
    with torch.no_grad():
        y_shape = model(torch.tensor(x)).shape
    dy = f32(rng.standard_normal(tuple(y_shape)))
    # the reference sees exactly the float32 values gradguard gets
    model.load_state_dict({k[len("layers."):]: torch.tensor(v) for k, v in state.items()})
    ref = torch_run(model, x, dy)
    cfg = pr.model_yaml(list(shape[1:]), "".join(layer_yaml(k, o) for k, o in layers), seed)
    ours = pr.run_probe(cfg, dict(state, x=x, dy=dy), True)
    return pr.compare(ours, ref, RTOL)


def conv(shape, filters, kernel, stride=1, padding=0, dilation=1, bias=True, seed=0):
    C = shape[1]
    mod = nn.Conv2d(C, filters, pair(kernel), stride=pair(stride), padding=pair(padding),
                    dilation=pair(dilation), bias=bias)
    with torch.no_grad():  # bias values large enough to matter
        if bias:
            mod.bias.uniform_(-1, 1)
    opts = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding,
            "dilation": dilation, "bias": bias}
    return run_case(shape, [("conv2d", opts)], nn.Sequential(mod), seed)


def pool(kind, shape, kernel, stride=0, padding=0, seed=0):
    s = pair(stride)
    s = tuple(k if v == 0 else v for k, v in zip(pair(kernel), s))  # 0 = the kernel
    cls = nn.MaxPool2d if kind == "max_pool" else nn.AvgPool2d
    mod = cls(pair(kernel), stride=s, padding=pair(padding))
    opts = {"kernel": kernel, "stride": stride, "padding": padding}
    return run_case(shape, [(kind, opts)], nn.Sequential(mod), seed)


def cnn(shape, seed=0):
    """The benchmark's network: conv(32, 3x3, pad 1)-relu-maxpool 2-conv(64)-
    relu-maxpool 2-flatten-dense 128-relu-dense 10."""
    C, H, W = shape[1:]
    flat = 64 * (H // 4) * (W // 4)
    model = nn.Sequential(nn.Conv2d(C, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 10))
    layers = [("conv2d", {"filters": 32, "kernel": 3, "padding": 1}), ("relu", None),
              ("max_pool", {"kernel": 2}),
              ("conv2d", {"filters": 64, "kernel": 3, "padding": 1}), ("relu", None),
              ("max_pool", {"kernel": 2}), ("flatten", None),
              ("dense", {"units": 128}), ("relu", None), ("dense", {"units": 10})]
    return run_case(shape, layers, model, seed)


CASES = [
    ("conv2d 3x3 pad 1, bias", lambda: conv((4, 3, 9, 8), 8, 3, padding=1, seed=1)),
    ("conv2d 3x2 stride 2 pad 1, no bias",
     lambda: conv((3, 2, 11, 10), 5, [3, 2], stride=2, padding=1, bias=False, seed=2)),
    ("conv2d dilation 2, padding [2, 1], stride [1, 2]",
     lambda: conv((3, 4, 10, 9), 6, 3, stride=[1, 2], padding=[2, 1], dilation=2, seed=3)),
    ("conv2d 2x4 stride [2, 3] dilation [1, 2]",
     lambda: conv((2, 3, 12, 17), 4, [2, 4], stride=[2, 3], dilation=[1, 2], seed=4)),
    ("conv2d 1x1 (no columns)", lambda: conv((5, 6, 7, 7), 4, 1, seed=5)),
    ("conv2d 1x1 stride 2 pad 1", lambda: conv((3, 3, 6, 5), 2, 1, stride=2, padding=1, seed=6)),
    ("conv2d 5x5 on 3x3 with pad 1 (1x1 out)",
     lambda: conv((2, 2, 3, 3), 3, 5, padding=1, seed=7)),
    ("conv2d CNN layer 2 size, batch 16 (threaded slices)",
     lambda: conv((16, 32, 14, 14), 64, 3, padding=1, seed=8)),
    ("conv2d one input channel, 28x28, batch 9",
     lambda: conv((9, 1, 28, 28), 32, 3, padding=1, seed=9)),
    ("max_pool 2", lambda: pool("max_pool", (4, 3, 8, 8), 2, seed=10)),
    ("max_pool 2 on odd sizes", lambda: pool("max_pool", (3, 2, 9, 7), 2, seed=11)),
    ("max_pool 3 stride 2 pad 1", lambda: pool("max_pool", (3, 4, 9, 10), 3, 2, 1, seed=12)),
    ("max_pool [2, 3] stride [1, 2] pad [1, 1]",
     lambda: pool("max_pool", (2, 3, 7, 8), [2, 3], [1, 2], [1, 1], seed=13)),
    ("max_pool 2, batch 32 x 32 planes (threaded)",
     lambda: pool("max_pool", (32, 32, 28, 28), 2, seed=14)),
    ("avg_pool 2", lambda: pool("avg_pool", (4, 3, 8, 8), 2, seed=15)),
    ("avg_pool 3 stride 2 pad 1 (padding counted)",
     lambda: pool("avg_pool", (3, 4, 9, 10), 3, 2, 1, seed=16)),
    ("avg_pool [2, 3] stride [1, 2] pad [1, 1]",
     lambda: pool("avg_pool", (2, 3, 7, 8), [2, 3], [1, 2], [1, 1], seed=17)),
    ("avg_pool 2, batch 32 x 32 planes (threaded)",
     lambda: pool("avg_pool", (32, 32, 28, 28), 2, seed=18)),
    ("global_avg_pool", lambda: run_case((5, 6, 7, 4), [("global_avg_pool", None)],
                                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                                         19)),
    ("flatten", lambda: run_case((4, 3, 5, 6), [("flatten", None)],
                                 nn.Sequential(nn.Flatten()), 20)),
    ("last step", lambda: run_case((4, 7, 5), [("last", None)], nn.Sequential(Last()), 21)),
    ("the benchmark CNN, batch 8", lambda: cnn((8, 1, 28, 28), seed=22)),
]


def main():
    return pr.run_cases(CASES, RTOL, 52)


if __name__ == "__main__":
    sys.exit(main())
