#!/usr/bin/python3
"""PyTorch parity of the optimisers Adagrad and RMSprop and of the L1
penalty over whole training runs: the same MLP, the same initial weights
(torch's, passed to `gradguard train --init`), the same batches, then the
loss at every step, every weight after the last step, and the optimiser
state in the checkpoint written at that step (optim.{param}.{state}, named
as torch names it) must agree with torch.optim (1.13, single-tensor paths)
to a relative 1e-4 in float32. One line per case, then "N passed, M
failed"; the exit status is 0 only when every case passed.

L1: gradguard adds l1 * sign(p) to the gradient of every parameter the
optimiser updates, biases included, after clipping; the torch reference
does exactly that, p.grad.add_(sign(p), alpha=l1) before opt.step(). Each
L1 case also checks that the penalty matters: the weights differ from the
same run without it by far more than the tolerance. sign(p) jumps at 0: a
weight that comes within rounding distance (~1e-7) of 0 may take opposite
signs in the two runs, and the runs part (an adaptive optimiser then moves
it by ~lr the other way). That is no defect of either side, so the L1
cases are set up to never come near 0: the initial weights are moved
`margin` away from 0 and lr is small enough that no weight reaches it in
200 steps, which each case checks on torch's run (min |p| >= WELL_POSED).

Environment: GG_BIN (the gradguard binary), GG_SOURCE_DIR, GG_BINARY_DIR
(set by CTest); GG_PARITY_KEEP=1 keeps the work directory for inspection.
"""
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_util as pu  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)

ROWS, FEATURES, BATCH, STEPS = 640, 20, 32, 200
LOSS_RTOL = 1e-4    # per step, |a - b| / |b|
WEIGHT_RTOL = 1e-4  # per tensor, max |a - b| / (max |b| + 1e-12)
STATE_RTOL = 1e-4   # per optimiser state tensor, the same criterion
L1_EFFECT = 10 * WEIGHT_RTOL  # an L1 run must differ from the run without it by more
WELL_POSED = 1e-3   # L1 runs: every |p| stays above this, far from sign(p)'s jump

MLP = [("dense", {"units": 32}), ("relu", {}),
       ("dense", {"units": 32}), ("tanh", {}),
       ("dense", {"units": 5})]


def make_data(seed, target):
    """ROWS x 20 standard-normal features (float32) and targets from a fixed
    random teacher: class labels, or 3 regression targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, FEATURES)).astype(np.float32)
    w = rng.standard_normal((FEATURES, 5))
    z = np.tanh(x.astype(np.float64) @ w / np.sqrt(FEATURES)) * 3
    z += 0.5 * rng.standard_normal(z.shape)
    if target == "labels":
        return x, np.argmax(z, axis=1).astype(np.float32)[:, None]
    if target == "regression3":
        return x, z[:, :3].astype(np.float32)
    raise ValueError(target)


def write_csv(path, x, y):
    """Shortest repr of each float32 value: strtod + cast gives it back."""
    with open(path, "w") as f:
        for row in np.concatenate([x, y], axis=1):
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def torch_optimizer(spec, params):
    """torch.optim for a gradguard optimizer mapping (l1 is not torch's:
    torch_run adds it to the gradients)."""
    o = dict(spec)
    name, lr = o.pop("name"), o.pop("lr")
    o.pop("l1", None)
    wd = o.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0.0), weight_decay=wd,
                               nesterov=o.get("nesterov", False), foreach=False)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                                eps=o.get("eps", 1e-8), weight_decay=wd,
                                amsgrad=o.get("amsgrad", False), foreach=False)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=o.get("lr_decay", 0.0), weight_decay=wd,
                                   initial_accumulator_value=o.get("initial_accumulator", 0.0),
                                   eps=o.get("eps", 1e-10), foreach=False)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=o.get("alpha", 0.99),
                                   eps=o.get("eps", 1e-8), weight_decay=wd,
                                   momentum=o.get("momentum", 0.0),
                                   centered=o.get("centered", False), foreach=False)
    raise ValueError(name)


def torch_loss(name, out, y):
    if name == "cross_entropy":
        return F.cross_entropy(out, y[:, 0].long())
    if name == "mse":
        return F.mse_loss(out, y)
    raise ValueError(name)


def torch_run(case, model, x, y, l1):
    """STEPS steps on consecutive batches; returns the per-step losses, the
    optimiser, and the smallest |p| any parameter had when sign(p) was taken."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch_optimizer(case["optimizer"], model.parameters())
    losses, pos, min_abs = [], 0, float("inf")
    for _ in range(STEPS):
        xb, yb = xt[pos:pos + BATCH], yt[pos:pos + BATCH]
        pos = pos + BATCH if pos + BATCH < len(xt) else 0
        opt.zero_grad()
        loss = torch_loss(case["loss"], model(xb), yb)
        loss.backward()
        if l1:
            with torch.no_grad():
                for p in model.parameters():
                    min_abs = min(min_abs, float(p.abs().min()))
                    p.grad.add_(torch.sign(p), alpha=l1)
        losses.append(float(loss.detach()))
        opt.step()
    return losses, opt, min_abs


def config_yaml(case, csv_path, targets):
    return "\n".join([
        "seed: 0",
        "data: {dataset: \"csv:%s\", validation: 0, normalize: none, shuffle: false, "
        "test_fraction: 0, targets: %d}" % (csv_path, targets),
        "model:",
        "  input: [%d]" % FEATURES,
        "  layers:",
        pu.layer_yaml(case["layers"]),
        "loss: %s" % case["loss"],
        "optimizer: %s" % pu.yaml_scalar(case["optimizer"]),
        "schedule: {name: constant, warmup_steps: 0}",
        "guard: {enabled: false}",
        # STEPS is a whole number of epochs: the last step writes a checkpoint.
        "train: {epochs: %d, batch_size: %d}" % (STEPS * BATCH // ROWS, BATCH),
        "checkpoint: {every_steps: %d, every_minutes: 0}" % STEPS,
        "",
    ])


def classifier(name, optimizer):
    return {"name": name, "layers": MLP, "loss": "cross_entropy", "target": "labels",
            "optimizer": optimizer}


CASES = [
    classifier("adagrad", {"name": "adagrad", "lr": 0.05}),
    classifier("adagrad_decay_accumulator_wd",
               {"name": "adagrad", "lr": 0.05, "lr_decay": 0.01, "initial_accumulator": 0.1,
                "weight_decay": 0.01}),
    classifier("rmsprop", {"name": "rmsprop", "lr": 0.001}),
    classifier("rmsprop_momentum", {"name": "rmsprop", "lr": 0.0005, "momentum": 0.9}),
    classifier("rmsprop_centered", {"name": "rmsprop", "lr": 0.001, "centered": True}),
    classifier("rmsprop_centered_momentum_wd",
               {"name": "rmsprop", "lr": 0.0005, "alpha": 0.95, "momentum": 0.9,
                "centered": True, "weight_decay": 0.01}),
    {"name": "rmsprop_mse_regression", "loss": "mse", "target": "regression3",
     "layers": MLP[:-1] + [("dense", {"units": 3})],
     "optimizer": {"name": "rmsprop", "lr": 0.001, "momentum": 0.5}},
    # L1: weights start 0.1 away from 0 and the steps are small enough that
    # none reaches it (see the top of this file).
    dict(classifier("l1_sgd", {"name": "sgd", "lr": 0.003, "l1": 0.003}), margin=0.1),
    dict(classifier("l1_sgd_momentum_wd",
                    {"name": "sgd", "lr": 0.0005, "momentum": 0.9, "weight_decay": 0.001,
                     "l1": 0.003}), margin=0.1),
    dict(classifier("l1_adam", {"name": "adam", "lr": 0.0002, "l1": 0.001}), margin=0.1),
    dict(classifier("l1_adam_wd_amsgrad",
                    {"name": "adam", "lr": 0.0002, "weight_decay": 0.01, "amsgrad": True,
                     "l1": 0.001}), margin=0.1),
    dict(classifier("l1_adagrad", {"name": "adagrad", "lr": 0.002, "l1": 0.001}), margin=0.1),
    dict(classifier("l1_rmsprop_centered",
                    {"name": "rmsprop", "lr": 0.0001, "centered": True, "l1": 0.001}), margin=0.1),
]


def torch_state(opt, model):
    """{param name: {state name: numpy array}} of the torch optimiser, the
    step count and the None entries (SGD without momentum) left out."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for p, st in opt.state.items():
        out[names[id(p)]] = {k: v.detach().numpy() for k, v in st.items()
                             if k != "step" and isinstance(v, torch.Tensor)}
    return out


def compare_state(ck, t_state, plain_sgd):
    """Problems, and the worst relative error, between the checkpoint's
    optim.{param}.{state} tensors and torch's optimiser state."""
    problems, worst, worst_name = [], 0.0, ""
    for pname, states in sorted(t_state.items()):
        have = sorted(k[len("optim.%s." % pname):] for k in ck if k.startswith("optim.%s." % pname))
        want = sorted(states)
        # torch's SGD without momentum keeps momentum_buffer = None; gradguard
        # always has the block (all zeros then).
        if plain_sgd:
            want = sorted(set(want) | {"momentum_buffer"})
        if have != want:
            problems.append("%s: checkpoint state %s, torch %s" % (pname, have, want))
            continue
        for sname, t in states.items():
            g = ck["optim.%s.%s" % (pname, sname)]
            if g.shape != t.shape:
                problems.append("optim.%s.%s: shape %s, torch %s" % (pname, sname, g.shape, t.shape))
                continue
            e = pu.rel_max_err(g, t)
            if e > worst:
                worst, worst_name = e, "%s.%s" % (pname, sname)
    if worst > STATE_RTOL:
        problems.append("optimiser state differs: %s max rel %.3g > %g" % (worst_name, worst, STATE_RTOL))
    return problems, worst, worst_name


def run_case(case, work, seed):
    """Returns (ok, message)."""
    d = os.path.join(work, case["name"])
    os.makedirs(d)
    x, y = make_data(seed, case["target"])
    csv_path = os.path.join(d, "data.csv")
    write_csv(csv_path, x, y)
    torch.manual_seed(seed)
    model = pu.torch_model(FEATURES, case["layers"])
    if case.get("margin"):
        with torch.no_grad():  # every weight `margin` further from 0, its sign kept
            for p in model.parameters():
                p.add_(torch.where(p >= 0, torch.tensor(case["margin"]), torch.tensor(-case["margin"])))
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    init = os.path.join(d, "init.safetensors")
    pu.save_safetensors(init, pu.state_dict_to_numpy(model))
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(case, csv_path, y.shape[1]))

    out = os.path.join(d, "run")
    pu.run_gradguard(["train", cfg, "--init", init, "--steps", STEPS, "--out", out, "--quiet"])
    steps = pu.step_rows(pu.read_metrics(out))
    l1 = case["optimizer"].get("l1", 0.0)
    t_losses, opt, min_abs = torch_run(case, model, x, y, l1)

    problems = []
    if len(steps) != STEPS:
        problems.append("metrics.jsonl has %d step lines, expected %d" % (len(steps), STEPS))
    loss_err, worst_step = 0.0, 0
    for i, (row, tl) in enumerate(zip(steps, t_losses)):
        gl = row.get("loss")
        if row.get("step") != i + 1 or gl is None:
            problems.append("line %d: step %r, loss %r" % (i + 1, row.get("step"), gl))
            break
        e = abs(gl - tl) / max(abs(tl), 1e-30)
        if e > loss_err:
            loss_err, worst_step = e, i + 1
    if loss_err > LOSS_RTOL:
        i = worst_step - 1
        problems.append("loss differs: step %d gradguard %.9g torch %.9g (rel %.3g > %g)"
                        % (worst_step, steps[i]["loss"], t_losses[i], loss_err, LOSS_RTOL))
    epoch = ROWS // BATCH  # mean loss over the first and the last epoch
    first, last = np.mean(t_losses[:epoch]), np.mean(t_losses[-epoch:])
    if not last < 0.98 * first:
        problems.append("torch's mean loss went from %.4g (first epoch) to %.4g (last): "
                        "nothing was learnt" % (first, last))

    gg_w = pu.load_safetensors(os.path.join(out, "model.safetensors"))
    t_w = pu.state_dict_to_numpy(model)
    if sorted(gg_w) != sorted(t_w):
        problems.append("tensor names differ: gradguard %s, torch %s" % (sorted(gg_w), sorted(t_w)))
    w_err, w_worst = 0.0, ""
    for name in sorted(set(t_w) & set(gg_w)):
        e = pu.rel_max_err(gg_w[name], t_w[name])
        if e > w_err:
            w_err, w_worst = e, name
    if w_err > WEIGHT_RTOL:
        problems.append("weights differ: %s max rel %.3g > %g" % (w_worst, w_err, WEIGHT_RTOL))

    ck_path = os.path.join(out, "checkpoint.safetensors")
    ck, meta = pu.load_safetensors(ck_path, with_metadata=True)
    if meta.get("step") != str(STEPS):
        problems.append("%s is of step %r, expected %d" % (ck_path, meta.get("step"), STEPS))
    plain_sgd = case["optimizer"]["name"] == "sgd" and not case["optimizer"].get("momentum")
    sp, s_err, s_worst = compare_state(ck, torch_state(opt, model), plain_sgd)
    problems += sp

    msg = "loss max rel %.2e (step %d), weights max rel %.2e (%s), state max rel %.2e (%s)" % (
        loss_err, worst_step, w_err, w_worst, s_err, s_worst)
    if l1:
        msg += ", min |p| %.3g" % min_abs
        if not min_abs >= WELL_POSED:
            problems.append("a weight came within %.3g of 0, where sign(p) jumps: the comparison is "
                            "ill-posed; move the weights further from 0 or take smaller steps"
                            % min_abs)
        # The penalty is not a no-op: torch without it ends elsewhere.
        ref = pu.torch_model(FEATURES, case["layers"])
        ref.load_state_dict(init_state)
        torch_run(case, ref, x, y, 0.0)
        r_w = pu.state_dict_to_numpy(ref)
        effect = max(pu.rel_max_err(gg_w[n], r_w[n]) for n in r_w)
        msg += ", L1 effect %.2e" % effect
        if not effect > L1_EFFECT:
            problems.append("l1 = %g moves the weights by only %.3g (relative), expected > %g"
                            % (l1, effect, L1_EFFECT))
    return not problems, msg + ("" if not problems else "\n    " + "\n    ".join(problems))


def main():
    binary = pu.gg_bin()
    if not os.access(binary, os.X_OK):
        print("gradguard binary not found: %s (set GG_BIN)" % binary)
        return 2
    work = tempfile.mkdtemp(prefix="gg-parity-optim-")
    passed = failed = 0
    try:
        for k, case in enumerate(CASES):
            try:
                ok, msg = run_case(case, work, seed=200 + k)
            except Exception as e:  # one broken case must not hide the others
                ok, msg = False, "%s: %s" % (type(e).__name__, e)
                traceback.print_exc()
            passed, failed = passed + ok, failed + (not ok)
            pu.log("%s %-30s %s" % ("PASS" if ok else "FAIL", case["name"], msg))
    finally:
        if os.environ.get("GG_PARITY_KEEP") == "1" or failed:
            pu.log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
