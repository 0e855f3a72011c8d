#!/usr/bin/python3
"""PyTorch parity of the normalisation layers, dropout and PReLU, one layer
at a time through gg_layer_probe (tests/parity/probe_util.py): the same
input, weights, buffers and output gradient dy go to gradguard (float32)
and to torch (float64, the reference); y, dx, every parameter gradient and
every buffer after the forward must agree to a relative norm error of 1e-4.

Cases: batch norm 1d ([N, C] and [N, C, L]) and 2d in training mode (y, dx,
dgamma, dbeta, the updated running statistics and num_batches_tracked) and
in evaluation mode, with and without affine parameters, one of them large
enough for the threaded kernels; layer norm over 1 and 2 dimensions with and
without affine; PReLU with a shared and a per-channel slope; dropout only
where torch's generator does not matter: p = 0 in training and p = 0.5 in
evaluation, both exactly the identity.

One line per case, the worst tensor of each; then "N passed, M failed"; the
exit status is 0 only when every case passed.
Environment: GG_PROBE (the probe binary), set by CTest.
"""
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_util as pr  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

torch.set_num_threads(1)

RTOL = 1e-4


def run_probe(cfg, tensors, training):
    """pr.run_probe with 0-d arrays kept 0-d: it passes every tensor through
    np.ascontiguousarray, which returns at least one dimension, and batch
    norm's num_batches_tracked is 0-d like torch's."""
    real = np.ascontiguousarray

    def keep_0d(a, *args, **kw):
        return np.asarray(a, order="C") if np.ndim(a) == 0 else real(a, *args, **kw)

    np.ascontiguousarray = keep_0d
    try:
        return pr.run_probe(cfg, tensors, training)
    finally:
        np.ascontiguousarray = real


def layers_yaml(kind, opts):
    inner = ", ".join("%s: %s" % (k, v if not isinstance(v, bool) else str(v).lower())
                      for k, v in opts.items())
    return "\n    - %s: {%s}" % (kind, inner)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def torch_run(module, x, dy, training):
    """y, dx, {grad.NAME}, {buffer.NAME} of module in float64."""
    module = module.double()
    module.train(training)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = module(xt)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    out = {"y": y.detach().numpy(), "dx": xt.grad.numpy()}
    for name, p in module.named_parameters():
        out["grad.layers.0." + name] = p.grad.numpy()
    for name, b in module.named_buffers():
        out["buffer.layers.0." + name] = b.numpy()
    return out


def compare(name, ours, ref, exact=False):
    """Asserts every reference tensor matches; returns (worst error, tensor)."""
    worst, where = 0.0, "-"
    for k, want in ref.items():
        if k not in ours:
            raise AssertionError("%s: gradguard wrote no %s (it wrote %s)"
                                 % (name, k, sorted(ours)))
        got = np.asarray(ours[k], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.size == want.size == 1:
            got, want = got.reshape(()), want.reshape(())
        if exact:
            err = 0.0 if np.array_equal(got, want) else float("inf")
        else:
            err = pr.rel_err(got, want)
        if err > worst or where == "-":
            worst, where = err, k
        if not err <= (0 if exact else RTOL):
            raise AssertionError("%s: %s relative error %.3e (limit %g)"
                                 % (name, k, err, 0 if exact else RTOL))
    return worst, where


# ---- cases ----------------------------------------------------------------

def batch_norm_case(shape, affine, training, momentum=0.1, eps=1e-5, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = f32(rng.standard_normal(shape) * 2 + 3)   # an offset mean and a scale
    dy = f32(rng.standard_normal(shape))
    mod = (nn.BatchNorm1d if len(shape) <= 3 else nn.BatchNorm2d)(
        C, eps=eps, momentum=momentum, affine=affine)
    state = {
        "layers.0.running_mean": f32(rng.standard_normal(C)),
        "layers.0.running_var": f32(rng.uniform(0.5, 2.0, C)),
        "layers.0.num_batches_tracked": np.array(3, dtype=np.int64),
    }
    if affine:
        state["layers.0.weight"] = f32(rng.uniform(0.5, 1.5, C))
        state["layers.0.bias"] = f32(rng.standard_normal(C))
    mod.load_state_dict({k[len("layers.0."):]: torch.tensor(v) for k, v in state.items()})
    ref = torch_run(mod, x, dy, training)
    cfg = pr.model_yaml(list(shape[1:]), layers_yaml(
        "batch_norm", {"momentum": momentum, "eps": eps, "affine": affine}))
    ours = run_probe(cfg, dict(state, x=x, dy=dy), training)
    return compare("batch_norm %s affine=%s training=%s" % (list(shape), affine, training),
                   ours, ref)


def layer_norm_case(shape, dims, affine, eps=1e-5, seed=1):
    rng = np.random.default_rng(seed)
    x = f32(rng.standard_normal(shape) * 3 - 1)
    dy = f32(rng.standard_normal(shape))
    tail = list(shape[len(shape) - dims:])
    mod = nn.LayerNorm(tail, eps=eps, elementwise_affine=affine)
    state = {}
    if affine:
        state["layers.0.weight"] = f32(rng.uniform(0.5, 1.5, tail))
        state["layers.0.bias"] = f32(rng.standard_normal(tail))
        mod.load_state_dict({k[len("layers.0."):]: torch.tensor(v) for k, v in state.items()})
    ref = torch_run(mod, x, dy, True)
    cfg = pr.model_yaml(list(shape[1:]), layers_yaml(
        "layer_norm", {"eps": eps, "dims": dims, "affine": affine}))
    ours = run_probe(cfg, dict(state, x=x, dy=dy), True)
    return compare("layer_norm %s dims=%d affine=%s" % (list(shape), dims, affine), ours, ref)


def prelu_case(shape, per_channel, seed=2):
    rng = np.random.default_rng(seed)
    x = f32(rng.standard_normal(shape))
    dy = f32(rng.standard_normal(shape))
    n = shape[1] if per_channel else 1
    a = f32(rng.uniform(0.05, 0.5, n))
    mod = nn.PReLU(num_parameters=n)
    mod.load_state_dict({"weight": torch.tensor(a)})
    ref = torch_run(mod, x, dy, True)
    cfg = pr.model_yaml(list(shape[1:]), layers_yaml(
        "prelu", {"per_channel": per_channel, "slope": 0.25}))
    ours = run_probe(cfg, {"x": x, "dy": dy, "layers.0.weight": a}, True)
    return compare("prelu %s per_channel=%s" % (list(shape), per_channel), ours, ref)


def dropout_case(shape, p, training, seed=3):
    """Exactly the identity: y = x and dx = dy bit for bit."""
    rng = np.random.default_rng(seed)
    x = f32(rng.standard_normal(shape))
    dy = f32(rng.standard_normal(shape))
    ref = torch_run(nn.Dropout(p), x, dy, training)
    assert np.array_equal(ref["y"], x.astype(np.float64))
    cfg = pr.model_yaml(list(shape[1:]), layers_yaml("dropout", {"p": p}))
    ours = run_probe(cfg, {"x": x, "dy": dy}, training)
    return compare("dropout %s p=%g training=%s" % (list(shape), p, training), ours,
                   {"y": x, "dx": dy}, exact=True)


CASES = [
    ("batch_norm 1d [32, 12] training", lambda: batch_norm_case((32, 12), True, True)),
    ("batch_norm 1d [32, 12] training, no affine",
     lambda: batch_norm_case((32, 12), False, True, momentum=0.3)),
    ("batch_norm 1d [16, 6, 10] training", lambda: batch_norm_case((16, 6, 10), True, True)),
    ("batch_norm 1d [32, 12] eval", lambda: batch_norm_case((32, 12), True, False)),
    ("batch_norm 2d [8, 5, 6, 7] training", lambda: batch_norm_case((8, 5, 6, 7), True, True)),
    ("batch_norm 2d [8, 5, 6, 7] training, no affine, eps 1e-3",
     lambda: batch_norm_case((8, 5, 6, 7), False, True, eps=1e-3)),
    ("batch_norm 2d [8, 5, 6, 7] eval", lambda: batch_norm_case((8, 5, 6, 7), True, False)),
    ("batch_norm 2d [16, 8, 16, 16] training (threaded)",
     lambda: batch_norm_case((16, 8, 16, 16), True, True)),
    ("batch_norm 1d [256, 160] training (threaded)",
     lambda: batch_norm_case((256, 160), True, True)),
    ("layer_norm [16, 24] dims 1", lambda: layer_norm_case((16, 24), 1, True)),
    ("layer_norm [8, 5, 12] dims 1, no affine", lambda: layer_norm_case((8, 5, 12), 1, False)),
    ("layer_norm [8, 5, 12] dims 2", lambda: layer_norm_case((8, 5, 12), 2, True)),
    ("layer_norm [64, 8, 96] dims 1 (threaded)", lambda: layer_norm_case((64, 8, 96), 1, True)),
    ("prelu [16, 10] shared", lambda: prelu_case((16, 10), False)),
    ("prelu [16, 10] per channel", lambda: prelu_case((16, 10), True)),
    ("prelu [4, 3, 5, 5] shared", lambda: prelu_case((4, 3, 5, 5), False)),
    ("prelu [4, 3, 5, 5] per channel", lambda: prelu_case((4, 3, 5, 5), True)),
    ("prelu [64, 8, 10, 10] per channel (threaded)",
     lambda: prelu_case((64, 8, 10, 10), True)),
    ("dropout p = 0 in training", lambda: dropout_case((8, 13), 0.0, True)),
    ("dropout p = 0.5 in evaluation", lambda: dropout_case((8, 3, 4, 4), 0.5, False)),
]


def main():
    passed, failed = 0, []
    for name, fn in CASES:
        try:
            worst, where = fn()
            print("ok    %-58s worst %.2e (%s)" % (name, worst, where))
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every case
            print("FAIL  %-58s %s" % (name, e))
            traceback.print_exc(limit=2)
            failed.append(name)
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
