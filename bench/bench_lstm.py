#!/usr/bin/python3
"""Side-by-side training throughput: gradguard's bench_lstm against PyTorch on
an LSTM(2, H) - last step - Linear(H, 1) regressor, adding-problem data
(T = 100 steps, 2 features, batch 64), MSE, 10 warm-up steps then --steps
timed steps, Adam (lr 1e-3) or SGD (lr 0.01).

gradguard runs at 2 threads (the figure compared) and at 1 thread (reported).
PyTorch (nn.LSTM, batch_first=True) runs in two settings, each in a fresh
process because BLAS reads its environment when torch is imported:
    t1b2: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
    t2b1: torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1
and the faster of the two is PyTorch's figure. A benchmark, not a test: no
thresholds; never registered with CTest.

usage: bench/bench_lstm.py [--steps N] [--hidden H ...] [--optimizer adam|sgd ...]
                           [--build-dir DIR] [--repeats R] [--markdown FILE]
"""
import argparse
import json
import os
import sys
import time

from side_by_side import (REPO, SETTINGS_NOTE, TORCH_SETTINGS, UNSET_VARS, child_env, find_bench,
                          run_json, unset_note)

OPTIMIZERS = ("adam", "sgd")
BATCH, STEPS_T, FEATURES, WARMUP, POOL = 64, 100, 2, 10, 32


# ---- the PyTorch worker (a child process) -------------------------------------

def adding_data(n, seed):
    """The adding problem: x[t] = (value in [0, 1), marker), two markers, one
    in each half; the target is the sum of the two marked values."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.zeros((n, STEPS_T, FEATURES), dtype=np.float32)
    x[:, :, 0] = rng.random((n, STEPS_T), dtype=np.float32)
    a = rng.integers(0, STEPS_T // 2, n)
    b = rng.integers(STEPS_T // 2, STEPS_T, n)
    x[np.arange(n), a, 1] = 1
    x[np.arange(n), b, 1] = 1
    y = x[np.arange(n), a, 0] + x[np.arange(n), b, 0]
    return x, y.reshape(n, 1).astype(np.float32)


def torch_worker(optimizer, threads, steps, hidden):
    import torch  # imported here, after the parent set OPENBLAS_NUM_THREADS
    import torch.nn as nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, hidden, batch_first=True)
            self.dense = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.dense(out[:, -1])

    model = Net()
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xs, ys = adding_data(POOL * BATCH, 1)
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)
    loss_fn = nn.MSELoss()

    def step(i):
        k = i % POOL
        x, y = xs[k * BATCH:(k + 1) * BATCH], ys[k * BATCH:(k + 1) * BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(WARMUP):
        step(i)
    t0 = time.perf_counter()
    for i in range(WARMUP, WARMUP + steps):
        loss = step(i)
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "optimizer": optimizer, "threads": threads,
                      "hidden": hidden, "torch_threads": torch.get_num_threads(),
                      "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "torch": torch.__version__, "steps": steps, "seconds": round(secs, 4),
                      "final_loss": float(loss),
                      "samples_per_s": round(steps * BATCH / secs, 1)}))
    return 0


# ---- the driver -----------------------------------------------------------------







def markdown(rows, steps, repeats, unset):
    out = ["| optimizer | H | gradguard, 2 threads (samples/s) | gradguard, 1 thread (samples/s) "
           "| PyTorch best (samples/s) | PyTorch setting | gradguard / PyTorch |",
           "|---|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        out.append("| %s | %d | %.0f | %.0f | %.0f | %s | %.2f |" % (
            r["optimizer"], r["hidden"], r["gg2"], r["gg1"], r["pt"], r["pt_setting"], r["ratio"]))
    out.append("")
    out.append(("LSTM(2, H) - last step - Linear(H, 1), adding problem (T = %d), batch %d, MSE, "
               "%d warm-up + %d timed steps, best of %d run(s), measurements interleaved. "
               + SETTINGS_NOTE + " (other setting: %s).%s") % (
                   STEPS_T, BATCH, WARMUP, steps, repeats,
                   "; ".join("%s H%d %.0f" % (r["optimizer"], r["hidden"], r["pt_other"]) for r in rows),
                   unset_note(unset)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128],
                    help="LSTM units, one or more (default 128)")
    ap.add_argument("--optimizer", choices=OPTIMIZERS, nargs="+", default=["adam"],
                    help="optimisers to run (default adam)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"),
                    help="build directory holding bench_lstm (default build/release)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per measurement, the best one kept; the runs of all "
                         "measurements are interleaved (default 1)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.steps < 1 or a.repeats < 1 or min(a.hidden) < 1:
        ap.error("--steps, --repeats and --hidden must be positive")
    if a.torch_worker:
        return torch_worker(a.optimizer[0], a.threads, a.steps, a.hidden[0])

    bench = find_bench(os.path.abspath(a.build_dir), "bench_lstm")
    unset = [v for v in UNSET_VARS if v in os.environ]
    timeout = 600 + 5 * a.steps  # generous: a loaded 2-core machine is slow
    rows = []
    for opt in a.optimizer:
        for hidden in a.hidden:
            cmds = {("gg", t): ([bench, opt, str(t), str(a.steps), str(hidden)], child_env())
                    for t in (2, 1)}
            for name, tt, bt in TORCH_SETTINGS:
                cmds[("pt", name)] = ([sys.executable, os.path.abspath(__file__), "--torch-worker",
                                       "--optimizer", opt, "--threads", str(tt), "--steps",
                                       str(a.steps), "--hidden", str(hidden)], child_env(bt))
            # Interleaved repeats: a burst of load on a shared machine then
            # hits every measurement alike instead of one of them.
            best = {}
            for _ in range(a.repeats):
                for key, (cmd, env) in cmds.items():
                    r = run_json(cmd, env, timeout)
                    if key not in best or r["samples_per_s"] > best[key]["samples_per_s"]:
                        best[key] = r
            pt = {name: best[("pt", name)] for name, _, _ in TORCH_SETTINGS}
            top = max(pt, key=lambda k: pt[k]["samples_per_s"])
            other = [k for k in pt if k != top][0]
            row = {"optimizer": opt, "hidden": hidden,
                   "gg2": best[("gg", 2)]["samples_per_s"], "gg1": best[("gg", 1)]["samples_per_s"],
                   "pt": pt[top]["samples_per_s"], "pt_setting": top,
                   "pt_other": pt[other]["samples_per_s"]}
            row["ratio"] = row["gg2"] / row["pt"]
            rows.append(row)
            print("%-4s H %-4d gradguard 2t %7.0f  1t %7.0f | pytorch %s %7.0f, %s %7.0f | "
                  "ratio %.2f (final loss gg %.4f, torch %.4f)" % (
                      opt, hidden, row["gg2"], row["gg1"], top, row["pt"], other, row["pt_other"],
                      row["ratio"], best[("gg", 2)]["final_loss"], pt[top]["final_loss"]),
                  flush=True)
    table = markdown(rows, a.steps, a.repeats, unset)
    print()
    print(table, end="")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
