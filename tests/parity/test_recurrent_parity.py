#!/usr/bin/python3
"""PyTorch parity of the recurrent layers (rnn tanh/relu, lstm, gru) through
gg_layer_probe (tests/parity/probe_util.py): the same input, weights and
output gradient dy go to gradguard (float32) and to torch (float64, the
reference; nn.RNN / nn.LSTM / nn.GRU with batch_first=True, the last step
being output[:, -1]); y, dx and every parameter gradient (weight_ih_l0,
weight_hh_l0, bias_ih_l0, bias_hh_l0) must agree to a relative norm error
||a - b|| / ||b|| of 1e-4.

Cases, T = 30 throughout: every cell with sequence and last-step outputs;
with and without biases; a batch and size above the op's threading
threshold for every cell (rows split among threads); weights scaled up so
that the gates saturate; stacked layers (lstm sequence into gru into dense),
so the gradient flows from one recurrent layer into another.

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
T = 30


def yaml_value(v):
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def layer_yaml(kind, opts=None):
    if not opts:
        return "\n    - %s" % kind
    return "\n    - %s: {%s}" % (kind, ", ".join("%s: %s" % (k, yaml_value(v))
                                                for k, v in opts.items()))


def f32(a):
    return np.asarray(a, dtype=np.float32)


class Recurrent(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU (batch_first) returning the whole output
    sequence or its last step; parameters keep PyTorch's names."""

    def __init__(self, kind, F, H, sequence, bias=True, nonlinearity="tanh"):
        super().__init__()
        self.sequence = sequence
        if kind == "rnn":
            self.cell = nn.RNN(F, H, nonlinearity=nonlinearity, bias=bias, batch_first=True)
        elif kind == "lstm":
            self.cell = nn.LSTM(F, H, bias=bias, batch_first=True)
        else:
            self.cell = nn.GRU(F, H, bias=bias, batch_first=True)
        # the parameters sit directly on this module: layers.{i}.weight_ih_l0
        for name, p in list(self.cell.named_parameters()):
            self.register_parameter(name, p)

    def forward(self, x):
        out, _ = self.cell(x)
        return out if self.sequence else out[:, -1]


def torch_run(model, x, dy):
    """y, dx and grad.layers.NAME of an nn.Sequential in float64."""
    model = model.double()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = model(xt)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    out = {"y": y.detach().numpy(), "dx": xt.grad.numpy()}
    for name, p in model.named_parameters():
        if ".cell." in name:
            continue  # the same tensors under the names registered above
        out["grad.layers." + name] = p.grad.numpy()
    return out


def state_of(model):
    out = {}
    for k, v in model.state_dict().items():
        if ".cell." not in k:
            out["layers." + k] = f32(v.detach().numpy())
    return out


def run_case(shape, layers, model, seed, scale=1.0):
    """layers: [(kind, opts)] for the config; model: the matching
    nn.Sequential (parameters initialised by torch, times scale, then sent
    to both)."""
    rng = np.random.default_rng(seed)
    x = f32(rng.standard_normal(shape))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    state = state_of(model)
    with torch.no_grad():
        y_shape = model(torch.tensor(x)).shape
    dy = f32(rng.standard_normal(tuple(y_shape)))
    # the reference sees exactly the float32 values gradguard gets
    with torch.no_grad():
        for k, p in model.named_parameters():
            if ".cell." not in k:
                p.copy_(torch.tensor(state["layers." + k]))
    ref = torch_run(model, x, dy)
    cfg = pr.model_yaml(list(shape[1:]), "".join(layer_yaml(k, o) for k, o in layers), seed)
    ours = pr.run_probe(cfg, dict(state, x=x, dy=dy), True)
    return pr.compare(ours, ref, RTOL, no_extra=True)


def recurrent(kind, N, F, H, sequence, bias=True, nonlinearity="tanh", seed=0, scale=1.0):
    torch.manual_seed(seed)
    mod = Recurrent(kind, F, H, sequence, bias, nonlinearity)
    opts = {"units": H, "sequence": sequence}
    if kind == "rnn":
        opts["nonlinearity"] = nonlinearity
    if not bias:
        opts["bias"] = False
    return run_case((N, T, F), [(kind, opts)], nn.Sequential(mod), seed, scale)


def stacked(N, F, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(Recurrent("lstm", F, 12, True), Recurrent("gru", 12, 9, False),
                          nn.Linear(9, 3))
    layers = [("lstm", {"units": 12, "sequence": True}), ("gru", {"units": 9, "sequence": False}),
              ("dense", {"units": 3})]
    return run_case((N, T, F), layers, model, seed)


CELLS = [("rnn tanh", "rnn", "tanh"), ("rnn relu", "rnn", "relu"), ("lstm", "lstm", "tanh"),
         ("gru", "gru", "tanh")]

CASES = []
for i, (label, kind, nl) in enumerate(CELLS):
    s = 10 * (i + 1)
    CASES += [
        ("%s sequence" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 4, 3, 8, True, nonlinearity=nl, seed=s)),
        ("%s last step" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 4, 3, 8, False, nonlinearity=nl, seed=s + 1)),
        ("%s sequence, no bias" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 3, 2, 5, True, bias=False, nonlinearity=nl,
                                                 seed=s + 2)),
        ("%s last step, no bias" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 3, 2, 5, False, bias=False,
                                                 nonlinearity=nl, seed=s + 3)),
        ("%s batch 32, H 64, F 5 (threaded rows)" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 32, 5, 64, True, nonlinearity=nl,
                                                 seed=s + 4)),
        ("%s weights scaled up (x3, ReLU x1.5), last step" % label,
         lambda kind=kind, nl=nl, s=s: recurrent(kind, 5, 4, 6, False, nonlinearity=nl,
                                                 seed=s + 5, scale=3.0 if kind != "rnn" or nl == "tanh" else 1.5)),
    ]
CASES += [
    ("lstm F 2, H 128, batch 64, last step (the benchmark's layer)",
     lambda: recurrent("lstm", 64, 2, 128, False, seed=90)),
    ("stacked lstm (sequence) -> gru -> dense", lambda: stacked(6, 4, seed=91)),
]


def main():
    return pr.run_cases(CASES, RTOL, 60)


if __name__ == "__main__":
    sys.exit(main())
