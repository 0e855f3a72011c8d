#!/usr/bin/python3
"""Side-by-side inference throughput, float and int8: gradguard's
bench_compress against PyTorch on the same two networks, batch 1000 over
10000 samples drawn from N(0, 1), the best of --reps timed passes after a
warm-up:
    mlp: 784 - dense 512 - ReLU - dense 10 (the default model)
    cnn: configs/fashion-cnn.yaml in evaluation mode (conv 32 - BN - ReLU -
         pool - conv 64 - BN - ReLU - pool - dense 128 - ReLU - dense 10)

PyTorch's float is nn.Module under torch.inference_mode(). PyTorch's int8
is its own CPU path for each: dynamic quantisation
(torch.ao.quantization.quantize_dynamic: int8 weights per tensor,
activations quantised on the fly per batch) for the MLP, and eager-mode static
quantisation (conv-BN-ReLU fused, per-channel weights, activations
calibrated on 2000 samples) for the CNN, on the best quantised engine this
torch has (fbgemm, else onednn, else qnnpack). gradguard's figures are its
default int8 kernel for this CPU. Every PyTorch measurement runs in two
settings, each in a fresh process:
    t1b2: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
    t2b1: torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1
and the faster of the two is PyTorch's figure. A benchmark, not a test: no
thresholds; never registered with CTest.

usage: bench/bench_compress.py [--reps N] [--repeats R] [--threads T] [--build-dir DIR]
                               [--markdown FILE]
"""
import argparse
import json
import os
import sys
import time

from side_by_side import (REPO, SETTINGS_NOTE, TORCH_SETTINGS, UNSET_VARS, child_env, find_bench,
                          run_json, unset_note)

MODELS = ("mlp", "cnn")
SAMPLES, BATCH, CALIB = 10000, 1000, 2000


# ---- the PyTorch worker (a child process) -------------------------------------

def build(name):
    import torch.nn as nn
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                         nn.Dropout(0.3), nn.Linear(128, 10))


def quantized(name, model, x):
    """PyTorch's int8 version of model: dynamic for the MLP, static for the CNN."""
    import torch
    import torch.ao.quantization as tq
    import torch.nn as nn
    if name == "mlp":
        return tq.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    fused = tq.fuse_modules(model, [["0", "1", "2"], ["4", "5", "6"], ["10", "11"]])
    wrapped = nn.Sequential(tq.QuantStub(), fused, tq.DeQuantStub())
    wrapped.qconfig = tq.get_default_qconfig(torch.backends.quantized.engine)
    prepared = tq.prepare(wrapped)
    with torch.inference_mode():
        prepared(x[:CALIB])
    return tq.convert(prepared)


def timed(model, x, reps):
    import torch
    best = float("inf")
    with torch.inference_mode():
        for r in range(reps + 1):
            t0 = time.perf_counter()
            for i in range(0, len(x), BATCH):
                model(x[i:i + BATCH])
            t = time.perf_counter() - t0
            if r and t < best:
                best = t
    return len(x) / best


def engine():
    """The x86 quantised engine this torch has: fbgemm, else onednn (Debian's
    build has no fbgemm), else qnnpack."""
    import torch
    have = torch.backends.quantized.supported_engines
    return next(e for e in ("fbgemm", "onednn", "x86", "qnnpack") if e in have)


def torch_worker(name, threads, reps):
    import torch  # imported here, after the parent set OPENBLAS_NUM_THREADS
    torch.set_num_threads(threads)
    torch.backends.quantized.engine = engine()
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(SAMPLES, 784) if name == "mlp" else torch.randn(SAMPLES, 1, 28, 28)
    f = timed(model, x, reps)
    q = timed(quantized(name, model, x), x, reps)
    print(json.dumps({"impl": "pytorch", "model": name, "threads": threads,
                      "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "torch": torch.__version__, "engine": torch.backends.quantized.engine,
                      "float_samples_per_s": round(f),
                      "int8_samples_per_s": round(q)}))
    return 0


# ---- the driver -----------------------------------------------------------------

def best(into, run):
    """Keeps, field by field, the larger of into's and run's numbers."""
    for k, v in run.items():
        speed = k.endswith("samples_per_s") or k.startswith("int8_")
        if speed and isinstance(v, (int, float)):
            into[k] = max(into.get(k, v), v)
        else:
            into.setdefault(k, v)

def markdown(rows, reps, repeats, threads, unset):
    out = ["| model | gradguard float | gradguard int8 | PyTorch float | PyTorch int8 | PyTorch setting "
           "| gradguard int8 / PyTorch int8 | gradguard int8 / PyTorch float |",
           "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        out.append("| %s | %.0f | %.0f (%s) | %.0f | %.0f | %s | %.2f | %.2f |" % (
            r["model"], r["gg_float"], r["gg_int8"], r["kernel"], r["pt_float"], r["pt_int8"],
            r["pt_setting"], r["gg_int8"] / r["pt_int8"], r["gg_int8"] / r["pt_float"]))
    out.append("")
    out.append(("Inference samples/s, batch %d over %d samples, the best of %d passes in each of "
                "%d process runs; gradguard at %d "
                "thread(s). PyTorch int8: quantize_dynamic for the MLP, eager static quantisation "
                "for the CNN (engine %s); its setting is the one with the faster int8. " + SETTINGS_NOTE
                + ".%s") % (BATCH, SAMPLES, reps, repeats, threads, rows[0]["engine"] if rows else "?",
                              unset_note(unset)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="timed passes, the best kept (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="gradguard's threads (default 2)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="process runs per measurement, interleaved, the best kept (default 3)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"),
                    help="build directory holding bench_compress (default build/release)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=MODELS, default="mlp", help=argparse.SUPPRESS)
    ap.add_argument("--torch-threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.reps < 1 or a.threads < 1 or a.repeats < 1:
        ap.error("--reps, --repeats and --threads must be positive")
    if a.torch_worker:
        return torch_worker(a.model, a.torch_threads, a.reps)

    bench = find_bench(os.path.abspath(a.build_dir), "bench_compress")
    unset = [v for v in UNSET_VARS if v in os.environ]
    rows = []
    for name in MODELS:
        gg_cmd = [bench, name, "--threads", str(a.threads), "--reps", str(a.reps)]
        pt_cmd = {setting: ([sys.executable, os.path.abspath(__file__), "--torch-worker", "--model", name,
                             "--torch-threads", str(tt), "--reps", str(a.reps)], child_env(bt))
                  for setting, tt, bt in TORCH_SETTINGS}
        # Process runs interleaved, every figure the best of its runs: PyTorch's
        # int8 in particular varies by 2x or more from one process to the next.
        gg, pt = {}, {}
        for _ in range(a.repeats):
            best(gg, run_json(gg_cmd, child_env(), 1800))
            for setting, (cmd, env) in pt_cmd.items():
                best(pt.setdefault(setting, {}), run_json(cmd, env, 1800))
        kernel = gg["default_kernel"]
        top = max(pt, key=lambda k: pt[k]["int8_samples_per_s"])
        row = {"model": name, "gg_float": gg["float_samples_per_s"], "gg_int8": gg["int8_" + kernel],
               "kernel": kernel, "pt_float": max(p["float_samples_per_s"] for p in pt.values()),
               "pt_int8": pt[top]["int8_samples_per_s"], "pt_setting": top,
               "engine": pt[top]["engine"]}
        rows.append(row)
        print("%-4s gradguard float %8.0f int8 %8.0f (%s) | pytorch float %8.0f int8 %8.0f (%s)" % (
            name, row["gg_float"], row["gg_int8"], kernel, row["pt_float"], row["pt_int8"], top),
            flush=True)
    table = markdown(rows, a.reps, a.repeats, a.threads, unset)
    print()
    print(table, end="")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
