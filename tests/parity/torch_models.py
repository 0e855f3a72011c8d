"""The PyTorch model of a gradguard config, with the same module tree.

Usage: torch_models.py CONFIG.yaml MODEL.safetensors
  builds the torch module for CONFIG's model, loads MODEL with
  load_state_dict(strict=True), and compares its evaluation-mode outputs on
  random inputs with gradguard's (through gg_layer_probe) at 1e-4 relative.
  Exit 0 when both hold.

The resolved config (`gradguard train CONFIG --print-config`) writes every
layer as one flow mapping per line, residual bodies as an indented block,
which is all this reader parses (Debian's python3 has no YAML module by
default).
"""
import os
import re
import subprocess
import sys

import numpy as np
import torch
from torch import nn

import parity_util as pu
import probe_util as pr


def _value(text):
    text = text.strip()
    if text.startswith("["):
        return [_value(v) for v in text[1:-1].split(",") if v.strip()]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _mapping(text):
    """'{a: 1, b: [2, 3]}' -> dict (flat values and flat lists only)."""
    body = text.strip()[1:-1]
    out, depth, cur = {}, 0, ""
    for ch in body + ",":
        if ch == "," and depth == 0:
            if cur.strip():
                k, v = cur.split(":", 1)
                out[k.strip()] = _value(v)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    return out


def parse_model(resolved_yaml):
    """(input shape, layers) from a resolved config; a layer is (kind, params, children)."""
    lines = resolved_yaml.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith("model:"))
    shape = _value(lines[i + 1].split(":", 1)[1])
    assert lines[i + 2].strip() == "layers:", lines[i + 2]

    def block(start, indent):
        layers, k = [], start
        while k < len(lines):
            line = lines[k]
            m = re.match(r"^( *)- (\w+):(.*)$", line)
            if not m or len(m.group(1)) != indent:
                break
            kind, rest = m.group(2), m.group(3).strip()
            if kind == "residual":
                assert lines[k + 1].strip() == "layers:"
                body, k = block(k + 2, indent + 6)
                layers.append((kind, {}, body))
                continue
            layers.append((kind, _mapping(rest) if rest else {}, []))
            k += 1
        return layers, k

    layers, _ = block(i + 3, 4)
    return shape, layers


def _pair(v):
    return tuple(v) if isinstance(v, list) and len(v) == 2 else ((v[0], v[0]) if isinstance(v, list) else (v, v))


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class Last(nn.Module):
    def forward(self, x):
        return x[:, -1]


def _recurrent(base, sequence):
    class Recurrent(base):
        def forward(self, x):  # noqa: D401 - batch first, zero state
            out, _ = super().forward(x)
            return out if sequence else out[:, -1]
    return Recurrent


class Residual(nn.Module):
    def __init__(self, layers, proj):
        super().__init__()
        self.layers = layers
        if proj is not None:
            self.proj = proj
        self.has_proj = proj is not None

    def forward(self, x):
        return self.layers(x) + (self.proj(x) if self.has_proj else x)


def build(layers, shape):
    """nn.Sequential of layers on per-sample shape; returns (module, out shape)."""
    mods = []
    for kind, p, children in layers:
        if kind == "dense":
            mods.append(nn.Linear(shape[0], p["units"], bias=p["bias"]))
            shape = [p["units"]]
        elif kind == "conv2d":
            k, s, pad, d = (_pair(p[key]) for key in ("kernel", "stride", "padding", "dilation"))
            mods.append(nn.Conv2d(shape[0], p["filters"], k, s, pad, d, bias=p["bias"]))
            shape = [p["filters"]] + [(shape[1 + i] + 2 * pad[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2)]
        elif kind in ("max_pool", "avg_pool"):
            k, s, pad = (_pair(p[key]) for key in ("kernel", "stride", "padding"))
            s = tuple(s[i] or k[i] for i in range(2))
            mods.append((nn.MaxPool2d if kind == "max_pool" else nn.AvgPool2d)(k, s, pad))
            shape = [shape[0]] + [(shape[1 + i] + 2 * pad[i] - k[i]) // s[i] + 1 for i in range(2)]
        elif kind == "global_avg_pool":
            mods.append(GlobalAvgPool())
            shape = [shape[0]]
        elif kind == "flatten":
            mods.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        elif kind == "last":
            mods.append(Last())
            shape = [shape[-1]]
        elif kind == "batch_norm":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods.append(cls(shape[0], eps=p["eps"], momentum=p["momentum"], affine=p["affine"]))
        elif kind == "layer_norm":
            mods.append(nn.LayerNorm(shape[-p["dims"]:], eps=p["eps"], elementwise_affine=p["affine"]))
        elif kind == "dropout":
            mods.append(nn.Dropout(p["p"]))
        elif kind in ("rnn", "lstm", "gru"):
            base = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
            extra = {"nonlinearity": p["nonlinearity"]} if kind == "rnn" else {}
            mods.append(_recurrent(base, p["sequence"])(shape[-1], p["units"], batch_first=True,
                                                        bias=p["bias"], **extra))
            shape = [shape[0], p["units"]] if p["sequence"] else [p["units"]]
        elif kind == "residual":
            body, out = build(children, shape)
            proj = None
            if out != shape:
                if len(shape) == 3:
                    stride = tuple(next(s for s in range(1, shape[1 + i] + 1) if (shape[1 + i] - 1) // s + 1 == out[1 + i]) for i in range(2))
                    proj = nn.Conv2d(shape[0], out[0], 1, stride, bias=False)
                else:
                    proj = nn.Linear(shape[0], out[0], bias=False)
            mods.append(Residual(body, proj))
            shape = out
        else:
            mods.append({
                "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "identity": nn.Identity(),
                "softmax": nn.Softmax(dim=-1), "leaky_relu": nn.LeakyReLU(p.get("slope", 0.01)),
                "elu": nn.ELU(p.get("alpha", 1.0)),
                "prelu": nn.PReLU(shape[0] if p.get("per_channel") else 1),
            }[kind])
    return nn.Sequential(*mods), shape


class Model(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        return self.layers(x)


def main():
    cfg_path, weights = sys.argv[1], sys.argv[2]
    resolved = subprocess.run([pu.gg_bin(), "train", cfg_path, "--print-config"], check=True,
                              capture_output=True, text=True).stdout
    shape, layers = parse_model(resolved)
    seq, _ = build(layers, shape)
    model = Model(seq)
    state = {k: torch.from_numpy(v) for k, v in pu.load_safetensors(weights).items()}
    model.load_state_dict(state, strict=True)  # raises on any missing, extra or mis-shaped tensor
    model.eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    tensors = {"x": x, "dy": np.zeros_like(y), **{k: v for k, v in pu.load_safetensors(weights).items()}}
    out = pr.run_probe(resolved, tensors, training=False)
    err = pr.rel_err(out["y"], y)
    print("  %s: %d tensors load strictly into the torch model; outputs agree to %.2e"
          % (os.path.basename(cfg_path), len(state), err))
    sys.exit(0 if err < 1e-4 else 1)


if __name__ == "__main__":
    main()
