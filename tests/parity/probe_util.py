"""Layer parity against PyTorch through gg_layer_probe (tests/parity/layer_probe.c).

run_probe(config_yaml, tensors, training) writes the tensors (x, dy and every
parameter and buffer by its PyTorch name) to a safetensors file, runs the
probe on the config's model.layers and returns what it wrote: "y", "dx",
"grad.NAME" for every parameter and "buffer.NAME" for every buffer.
"""
import os
import subprocess
import tempfile
import traceback

import numpy as np

import parity_util as pu


def probe_bin():
    """The probe: $GG_PROBE, else build/release/tests/gg_layer_probe."""
    b = os.environ.get("GG_PROBE")
    if b:
        return b
    root = os.environ.get("GG_SOURCE_DIR",
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return os.path.join(root, "build", "release", "tests", "gg_layer_probe")


def run_probe(config_yaml, tensors, training=True, threads=None):
    with tempfile.TemporaryDirectory(prefix="gg-probe-") as d:
        cfg = os.path.join(d, "config.yaml")
        src = os.path.join(d, "in.safetensors")
        out = os.path.join(d, "out.safetensors")
        with open(cfg, "w") as f:
            f.write(config_yaml)
        arrays = {}
        for k, v in tensors.items():
            a = np.asarray(v, order="C")
            if a.dtype == np.float64:
                a = a.astype(np.float32)
            arrays[k] = a
        pu.save_safetensors(src, arrays, metadata={"training": "1" if training else "0"},
                            use_library=False)
        r = subprocess.run([probe_bin(), cfg, src, out], capture_output=True, text=True,
                           env=pu.child_env(threads), timeout=600)
        if r.returncode != 0:
            raise RuntimeError("gg_layer_probe failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
        return pu.load_safetensors(out)


def model_yaml(input_shape, layers_yaml, seed=0):
    """A config whose model is input_shape and the given layers (YAML list text)."""
    return "seed: %d\nmodel:\n  input: %s\n  layers: %s\n" % (seed, list(input_shape), layers_yaml)


def rel_err(a, b):
    """||a - b|| / max(||b||, tiny): the relative norm error the parity tests assert."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError("shape %s vs %s" % (a.shape, b.shape))
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run_cases(cases, rtol, width=56):
    """Runs (name, fn) cases, fn returning (worst error, where, failures);
    prints a line per case and the worst of all; returns the exit status."""
    passed = failed = 0
    worst_all, worst_case = 0.0, "-"
    for name, fn in cases:
        try:
            worst, where, bad = fn()
        except Exception:  # a probe or shape failure is a failed case
            failed += 1
            print("FAIL %-*s %s" % (width, name, traceback.format_exc().strip().splitlines()[-1]))
            continue
        if worst > worst_all:
            worst_all, worst_case = worst, "%s (%s)" % (name, where)
        if bad:
            failed += 1
            print("FAIL %-*s %s" % (width, name, "; ".join(bad)))
        else:
            passed += 1
            print("ok   %-*s worst %.2e (%s)" % (width, name, worst, where))
    print("worst relative error %.3e: %s" % (worst_all, worst_case))
    print("%d passed, %d failed (limit %g)" % (passed, failed, rtol))
    return 1 if failed else 0


def compare(ours, ref, rtol, no_extra=False):
    """(worst error, its tensor, failures) over every reference tensor of
    ref, found in ours with the same shape; no_extra: gradguard must have
    no parameter gradient torch lacks."""
    worst, where, bad = 0.0, "-", []
    for k, want in ref.items():
        if k not in ours:
            raise AssertionError("gradguard wrote no %s (it wrote %s)" % (k, sorted(ours)))
        got = np.asarray(ours[k], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            raise AssertionError("%s: shape %s, torch %s" % (k, got.shape, want.shape))
        err = rel_err(got, want)
        if err > worst or where == "-":
            worst, where = err, k
        if not err <= rtol:
            bad.append("%s %.3e" % (k, err))
    extra = sorted(k for k in ours if k.startswith("grad.") and k not in ref)
    if no_extra and extra:
        raise AssertionError("gradguard has parameters torch does not: %s" % extra)
    return worst, where, bad
