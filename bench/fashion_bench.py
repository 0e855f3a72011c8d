"""The Fashion-MNIST training benchmarks' shared runner (bench_mlp.py,
bench_cnn.py): gradguard's bench_NAME against PyTorch on the same network,
batch 64, `spec.warmup` untimed steps then --steps timed ones, SGD with
momentum (lr 0.01, 0.9) and Adam (lr 1e-3). gradguard runs at 2 threads
(the figure compared) and at 1 thread (reported); PyTorch in its two
thread settings, each in a fresh process (its worker is the calling
script, rerun with --torch-worker), the faster kept."""
import argparse
import collections
import json
import os
import sys
import time

from side_by_side import (REPO, SETTINGS_NOTE, TORCH_SETTINGS, UNSET_VARS, best_of, child_env,
                          find_bench, load_fashion, unset_note)

OPTIMIZERS = ("momentum", "adam")
BATCH = 64

# name: the gradguard binary; script: the calling script (its __file__);
# doc: its docstring; model(nn): PyTorch's network; input_shape: one
# sample's; describe: the table's caption; seconds_per_step: for timeouts.
Spec = collections.namedtuple("Spec", "name script doc model input_shape warmup default_steps "
                                      "describe seconds_per_step")


def torch_worker(spec, optimizer, threads, steps):
    import torch  # imported here, after the parent set OPENBLAS_NUM_THREADS
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    xs, ys = load_fashion()
    x, y = torch.from_numpy(xs).reshape(-1, *spec.input_shape), torch.from_numpy(ys)
    model = spec.model(nn)
    if optimizer == "momentum":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(x)
    state = {"perm": torch.randperm(n), "pos": 0}

    def step():
        """One step on the next batch of a shuffled epoch (DataLoader with
        shuffle=True, drop_last=False); returns (samples, loss)."""
        if state["pos"] >= n:
            state["perm"], state["pos"] = torch.randperm(n), 0
        idx = state["perm"][state["pos"]:state["pos"] + BATCH]
        state["pos"] += BATCH
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return len(idx), loss

    for _ in range(spec.warmup):
        step()
    samples, t0 = 0, time.perf_counter()
    for _ in range(steps):
        k, loss = step()
        samples += k
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "optimizer": optimizer, "threads": threads,
                      "torch_threads": torch.get_num_threads(),
                      "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "torch": torch.__version__, "steps": steps, "seconds": round(secs, 4),
                      "final_loss": float(loss), "samples_per_s": round(samples / secs, 1)}))
    return 0


# ---- the driver -----------------------------------------------------------------









def markdown(spec, rows, steps, repeats, unset):
    out = ["| optimizer | gradguard, 2 threads (samples/s) | gradguard, 1 thread (samples/s) "
           "| PyTorch best (samples/s) | PyTorch setting | gradguard / PyTorch |",
           "|---|---:|---:|---:|---|---:|"]
    for r in rows:
        out.append("| %s | %.0f | %.0f | %.0f | %s | %.2f |" % (
            r["optimizer"], r["gg2"], r["gg1"], r["pt"], r["pt_setting"], r["ratio"]))
    out.append("")
    out.append((spec.describe + ", batch 64, %d warm-up + %d timed steps, "
               "best of %d run(s). " + SETTINGS_NOTE + " (other setting: %s).%s") % (
                   spec.warmup, steps, repeats,
                   "; ".join("%s %.0f" % (r["optimizer"], r["pt_other"]) for r in rows),
                   unset_note(unset)))
    return "\n".join(out) + "\n"


def main(spec):
    ap = argparse.ArgumentParser(description=spec.doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=spec.default_steps,
                    help="timed steps (default %d)" % spec.default_steps)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"),
                    help="build directory holding %s (default build/release)" % spec.name)
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per measurement, the best one kept (default 1)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help="comma-separated list of %s (default both)" % " and ".join(OPTIMIZERS))
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="momentum", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.steps < 1 or a.repeats < 1:
        ap.error("--steps and --repeats must be positive")
    if a.torch_worker:
        return torch_worker(spec, a.optimizer, a.threads, a.steps)

    bench = find_bench(os.path.abspath(a.build_dir), spec.name)
    unset = [v for v in UNSET_VARS if v in os.environ]
    timeout = 600 + spec.seconds_per_step * a.steps  # generous: a loaded 2-core machine is slow
    rows = []
    for opt in a.optimizers.split(","):
        if opt not in OPTIMIZERS:
            ap.error("--optimizers: %s is not one of %s" % (opt, ", ".join(OPTIMIZERS)))
        gg = {t: best_of([bench, opt, str(t), str(a.steps)], child_env(), a.repeats, timeout)
              for t in (2, 1)}
        pt = {}
        for name, tt, bt in TORCH_SETTINGS:
            cmd = [sys.executable, os.path.abspath(spec.script), "--torch-worker", "--optimizer", opt,
                   "--threads", str(tt), "--steps", str(a.steps)]
            pt[name] = best_of(cmd, child_env(bt), a.repeats, timeout)
        best = max(pt, key=lambda k: pt[k]["samples_per_s"])
        other = [k for k in pt if k != best][0]
        row = {"optimizer": opt, "gg2": gg[2]["samples_per_s"], "gg1": gg[1]["samples_per_s"],
               "pt": pt[best]["samples_per_s"], "pt_setting": best,
               "pt_other": pt[other]["samples_per_s"]}
        row["ratio"] = row["gg2"] / row["pt"]
        rows.append(row)
        print("%-9s gradguard 2t %8.0f  1t %8.0f | pytorch %s %8.0f, %s %8.0f | ratio %.2f "
              "(final loss gg %.4f, torch %.4f)" % (
                  opt, row["gg2"], row["gg1"], best, row["pt"], other, row["pt_other"],
                  row["ratio"], gg[2]["final_loss"], pt[best]["final_loss"]), flush=True)
    table = markdown(spec, rows, a.steps, a.repeats, unset)
    print()
    print(table, end="")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    return 0
