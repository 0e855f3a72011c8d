#!/usr/bin/python3
"""PyTorch parity of the learning-rate schedules and of clip-by-value.

Schedules: `gradguard train` runs a tiny CSV task for STEPS steps with
`schedule: {...}` and the guard off; the lr logged at every step of
metrics.jsonl must equal, to a relative 1e-6, torch's lr for that step,
which is optimizer.param_groups[0]['lr'] before the t-th scheduler.step().
One-cycle also cycles SGD's momentum, logged as "momentum" on each step.

Clip by value: a run with guard.clip.mode value against torch with
clip_grad_value_ before each step: the loss at every step and the final
weights agree to a relative 1e-4.

One line per case, then "N passed, M failed"; exit status 0 only when every
case passed. Environment: GG_BIN (the gradguard binary), set by CTest;
GG_PARITY_KEEP=1 keeps the work directory.
"""
import os
import shutil
import sys
import tempfile
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_util as pu  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.optim import lr_scheduler as S  # noqa: E402

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=UserWarning)  # scheduler-order and deprecation notes

STEPS = 120
LR = 0.1
LR_RTOL = 1e-6
LOSS_RTOL = 1e-4
WEIGHT_RTOL = 1e-4


# ---- data and config -----------------------------------------------------------

def make_data(rows, features, classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    w = rng.standard_normal((features, classes))
    z = x.astype(np.float64) @ w + 0.5 * rng.standard_normal((rows, classes))
    y = np.argmax(z, axis=1).astype(np.float32)[:, None]
    return x, y


def write_csv(path, x, y):
    """Shortest repr of each float32 value: strtod + cast gives it back exactly."""
    with open(path, "w") as f:
        for row in np.concatenate([x, y], axis=1):
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def config_yaml(csv_path, features, layers, optimizer, schedule, guard, epochs, batch):
    return "\n".join([
        "seed: 0",
        "data: {dataset: \"csv:%s\", validation: 0, normalize: none, shuffle: false, "
        "test_fraction: 0, targets: 1}" % csv_path,
        "model:",
        "  input: [%d]" % features,
        "  layers:",
        pu.layer_yaml(layers),
        "loss: cross_entropy",
        "optimizer: %s" % pu.yaml_scalar(optimizer),
        "schedule: %s" % pu.yaml_scalar(schedule),
        "guard: %s" % guard,
        "train: {epochs: %d, batch_size: %d}" % (epochs, batch),
        "",
    ])


# ---- schedules -----------------------------------------------------------------------

def sgd(momentum=0.9):
    p = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([p], lr=LR, momentum=momentum)


def seq(opt, warmup, start, main):
    """LinearLR warm-up from start * lr over `warmup` steps, then `main` (SequentialLR)."""
    return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warmup),
                                main], milestones=[warmup])


# name, gradguard schedule mapping, torch scheduler factory, momentum cycled[, steps compared]
SCHEDULES = [
    ("step", {"name": "step", "step_size": 25, "gamma": 0.5},
     lambda o: S.StepLR(o, step_size=25, gamma=0.5), False),
    ("multistep", {"name": "multistep", "milestones": [30, 70, 100], "gamma": 0.3},
     lambda o: S.MultiStepLR(o, milestones=[30, 70, 100], gamma=0.3), False),
    ("exponential", {"name": "exponential", "gamma": 0.97},
     lambda o: S.ExponentialLR(o, gamma=0.97), False),
    ("cosine", {"name": "cosine", "warmup_steps": 0, "min_lr": 0.001},
     lambda o: S.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.001), False),
    # Compared up to T_max only: past it torch's cosine rises again, while
    # gradguard holds eta_min (tests/guard/test_schedule.c checks that).
    ("cosine_T_max_60", {"name": "cosine", "warmup_steps": 0, "total_steps": 60},
     lambda o: S.CosineAnnealingLR(o, T_max=60), False, 61),
    ("cosine_restarts_mult1", {"name": "cosine", "warmup_steps": 0, "min_lr": 0.001,
                               "restart_steps": 20, "restart_mult": 1.0},
     lambda o: S.CosineAnnealingWarmRestarts(o, T_0=20, T_mult=1, eta_min=0.001), False),
    ("cosine_restarts_mult2", {"name": "cosine", "warmup_steps": 0, "min_lr": 0.001,
                               "restart_steps": 10, "restart_mult": 2.0},
     lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.001), False),
    ("onecycle", {"name": "onecycle", "max_lr": 0.5, "pct_start": 0.3, "div_factor": 25.0,
                  "final_div_factor": 1e4, "base_momentum": 0.85, "max_momentum": 0.95},
     lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, pct_start=0.3, anneal_strategy="cos",
                            cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                            div_factor=25.0, final_div_factor=1e4), True),
    ("onecycle_three_phase", {"name": "onecycle", "max_lr": 0.4, "pct_start": 0.25,
                              "div_factor": 10.0, "final_div_factor": 100.0, "three_phase": True,
                              "base_momentum": 0.8, "max_momentum": 0.9},
     lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=STEPS, pct_start=0.25, anneal_strategy="cos",
                            cycle_momentum=True, base_momentum=0.8, max_momentum=0.9,
                            div_factor=10.0, final_div_factor=100.0, three_phase=True), True),
    ("warmup_cosine", {"name": "cosine", "warmup_steps": 20, "warmup_start": 0.1, "min_lr": 0.001},
     lambda o: seq(o, 20, 0.1, S.CosineAnnealingLR(o, T_max=STEPS - 20, eta_min=0.001)), False),
    ("warmup_step", {"name": "step", "step_size": 15, "gamma": 0.5, "warmup_steps": 10,
                     "warmup_start": 0.25},
     lambda o: seq(o, 10, 0.25, S.StepLR(o, step_size=15, gamma=0.5)), False),
]
if hasattr(S, "PolynomialLR"):  # torch >= 1.13
    SCHEDULES += [
        ("polynomial", {"name": "polynomial", "power": 1.0},
         lambda o: S.PolynomialLR(o, total_iters=STEPS, power=1.0), False),
        ("polynomial_p2_T100", {"name": "polynomial", "power": 2.0, "total_steps": 100},
         lambda o: S.PolynomialLR(o, total_iters=100, power=2.0), False),
    ]


def torch_lrs(factory, steps=STEPS):
    opt = sgd()
    sched = factory(opt)
    lrs, moms = [], []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return lrs, moms


def close(a, b, rtol):
    return abs(a - b) <= rtol * abs(b) + 1e-12


def run_schedule(name, schedule, factory, cycles, work, csv_path, upto=STEPS):
    """Runs one schedule and compares the first `upto` steps' lr (and momentum)."""
    d = os.path.join(work, name)
    os.makedirs(d)
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(csv_path, 4, [("dense", {"units": 3})],
                            {"name": "sgd", "lr": LR, "momentum": 0.9}, schedule,
                            "{enabled: false}", epochs=STEPS * 8 // 64 + 2, batch=8))
    out = os.path.join(d, "run")
    pu.run_gradguard(["train", cfg, "--steps", STEPS, "--out", out, "--quiet"])
    steps = pu.step_rows(pu.read_metrics(out))
    want_lr, want_mom = torch_lrs(factory)
    problems = []
    if len(steps) != STEPS:
        problems.append("metrics.jsonl has %d step lines, expected %d" % (len(steps), STEPS))
    lr_err = 0.0
    for i, row in enumerate(steps[:upto]):
        got = row.get("lr")
        if got is None or not close(got, want_lr[i], LR_RTOL):
            problems.append("step %d: lr %r, torch %r" % (i + 1, got, want_lr[i]))
            break
        if want_lr[i] != 0:
            lr_err = max(lr_err, abs(got - want_lr[i]) / abs(want_lr[i]))
        mom = row.get("momentum")
        if cycles and (mom is None or not close(mom, want_mom[i], LR_RTOL)):
            problems.append("step %d: momentum %r, torch %r" % (i + 1, mom, want_mom[i]))
            break
        if not cycles and mom is not None:
            problems.append("step %d: momentum %r logged, but this schedule does not cycle it"
                            % (i + 1, mom))
            break
    msg = "lr max rel %.2e over %d steps%s" % (lr_err, min(upto, len(steps)),
                                                ", momentum cycled" if cycles else "")
    return not problems, msg + ("" if not problems else "\n    " + "\n    ".join(problems))


# ---- clip_grad_value_ ---------------------------------------------------------------

CLIP_LAYERS = [("dense", {"units": 16}), ("relu", {}), ("dense", {"units": 3})]
CLIP_VALUE, CLIP_STEPS, CLIP_ROWS, CLIP_BATCH, CLIP_FEATURES = 0.01, 100, 256, 16, 10


def run_clip_value(work):
    d = os.path.join(work, "clip_value")
    os.makedirs(d)
    x, y = make_data(CLIP_ROWS, CLIP_FEATURES, 3, seed=5)
    csv_path = os.path.join(d, "data.csv")
    write_csv(csv_path, x, y)
    torch.manual_seed(5)
    model = pu.torch_model(CLIP_FEATURES, CLIP_LAYERS)
    init = os.path.join(d, "init.safetensors")
    pu.save_safetensors(init, pu.state_dict_to_numpy(model))
    optimizer = {"name": "sgd", "lr": 0.2, "momentum": 0.9}
    guard = ("{enabled: true, clip: {mode: value, value: %r}, nonfinite: error, "
             "spike: {enabled: false}, recover: {enabled: false}}" % CLIP_VALUE)
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(csv_path, CLIP_FEATURES, CLIP_LAYERS, optimizer,
                            {"name": "constant", "warmup_steps": 0}, guard,
                            epochs=CLIP_STEPS * CLIP_BATCH // CLIP_ROWS + 2, batch=CLIP_BATCH))
    out = os.path.join(d, "run")
    pu.run_gradguard(["train", cfg, "--init", init, "--steps", CLIP_STEPS, "--out", out, "--quiet"])
    steps = pu.step_rows(pu.read_metrics(out))

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses, clipped_steps, pos = [], 0, 0
    for _ in range(CLIP_STEPS):
        xb, yb = xt[pos:pos + CLIP_BATCH], yt[pos:pos + CLIP_BATCH]
        pos = pos + CLIP_BATCH if pos + CLIP_BATCH < len(xt) else 0
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb[:, 0].long())
        loss.backward()
        biggest = max(float(p.grad.abs().max()) for p in model.parameters())
        clipped_steps += biggest > CLIP_VALUE
        torch.nn.utils.clip_grad_value_(model.parameters(), CLIP_VALUE)
        opt.step()
        losses.append(float(loss.detach()))

    problems = []
    if clipped_steps < CLIP_STEPS // 2:
        problems.append("the clip bit on only %d of %d steps: the case tests too little"
                        % (clipped_steps, CLIP_STEPS))
    if len(steps) != CLIP_STEPS:
        problems.append("metrics.jsonl has %d step lines, expected %d" % (len(steps), CLIP_STEPS))
    loss_err, worst = 0.0, 0
    for i, (row, tl) in enumerate(zip(steps, losses)):
        e = abs(row["loss"] - tl) / max(abs(tl), 1e-30)
        if e > loss_err:
            loss_err, worst = e, i + 1
    if loss_err > LOSS_RTOL:
        problems.append("loss differs: step %d gradguard %.9g torch %.9g (rel %.3g > %g)"
                        % (worst, steps[worst - 1]["loss"], losses[worst - 1], loss_err, LOSS_RTOL))
    gg_w = pu.load_safetensors(os.path.join(out, "model.safetensors"))
    t_w = pu.state_dict_to_numpy(model)
    w_err, w_worst = 0.0, ""
    for name in sorted(t_w):
        if name not in gg_w:
            problems.append("%s missing from model.safetensors" % name)
            continue
        e = pu.rel_max_err(gg_w[name], t_w[name])
        if e > w_err:
            w_err, w_worst = e, name
    if w_err > WEIGHT_RTOL:
        problems.append("weights differ: %s max rel %.3g > %g" % (w_worst, w_err, WEIGHT_RTOL))
    msg = "clipped on %d/%d steps; loss max rel %.2e (step %d), weights max rel %.2e (%s)" % (
        clipped_steps, CLIP_STEPS, loss_err, worst, w_err, w_worst)
    return not problems, msg + ("" if not problems else "\n    " + "\n    ".join(problems))


def main():
    binary = pu.gg_bin()
    if not os.access(binary, os.X_OK):
        print("gradguard binary not found: %s (set GG_BIN)" % binary)
        return 2
    work = tempfile.mkdtemp(prefix="gg-parity-schedule-")
    passed = failed = 0

    def report(name, fn):
        nonlocal passed, failed
        try:
            ok, msg = fn()
        except Exception as e:  # one broken case must not hide the others
            ok, msg = False, "%s: %s" % (type(e).__name__, e)
            traceback.print_exc()
        passed, failed = passed + ok, failed + (not ok)
        pu.log("%s %-24s %s" % ("PASS" if ok else "FAIL", name, msg))

    try:
        x, y = make_data(64, 4, 3, seed=1)
        csv_path = os.path.join(work, "tiny.csv")
        write_csv(csv_path, x, y)
        for name, schedule, factory, cycles, *upto in SCHEDULES:
            report(name, lambda: run_schedule(name, schedule, factory, cycles, work, csv_path,
                                              upto[0] if upto else STEPS))
        report("clip_grad_value", lambda: run_clip_value(work))
    finally:
        if os.environ.get("GG_PARITY_KEEP") == "1" or failed:
            pu.log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
