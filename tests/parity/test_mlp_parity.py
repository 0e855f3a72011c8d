#!/usr/bin/python3
"""PyTorch parity of whole training runs: the same MLP, the same initial
weights (torch's, passed to `gradguard train --init`), the same batches,
then the loss at every step and every weight after the last step must agree
to a relative 1e-4 in float32. One line per case, then "N passed, M failed";
the exit status is 0 only when every case passed.

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
NORM_RTOL = 1e-4    # logged grad_norm against torch's total norm

MLP = [("dense", {"units": 32}), ("relu", {}),
       ("dense", {"units": 32}), ("tanh", {}),
       ("dense", {"units": 5})]


# ---- data -----------------------------------------------------------------

def make_data(seed, target, rows=ROWS):
    """rows x 20 standard-normal features (float32) and targets of the kind
    `target` from a fixed random teacher, so there is something to learn."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    w = rng.standard_normal((FEATURES, 5))
    z = np.tanh(x.astype(np.float64) @ w / np.sqrt(FEATURES)) * 3
    z += 0.5 * rng.standard_normal(z.shape)
    if target == "labels":
        y = np.argmax(z, axis=1).astype(np.float32)[:, None]
    elif target == "regression3":
        y = z[:, :3].astype(np.float32)
    elif target == "binary":
        y = (z[:, :1] > 0).astype(np.float32)
    elif target == "probs5":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        y = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    else:
        raise ValueError(target)
    return x, y


def write_csv(path, x, y):
    """Values written as the shortest repr of the float32 value (exact in
    double), so gradguard's strtod + cast gives the very same float32."""
    with open(path, "w") as f:
        for row in np.concatenate([x, y], axis=1):
            f.write(",".join(repr(float(v)) for v in row) + "\n")


# ---- the two sides ----------------------------------------------------------

def torch_optimizer(spec, params):
    o = dict(spec)
    name, lr = o.pop("name"), o.pop("lr")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0.0),
                               dampening=o.get("dampening", 0.0),
                               weight_decay=o.get("weight_decay", 0.0),
                               nesterov=o.get("nesterov", False))
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0.9),
                               dampening=o.get("dampening", 0.0),
                               weight_decay=o.get("weight_decay", 0.0),
                               nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                                eps=o.get("eps", 1e-8), weight_decay=o.get("weight_decay", 0.0),
                                amsgrad=o.get("amsgrad", False))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                                 eps=o.get("eps", 1e-8), weight_decay=o.get("weight_decay", 0.01),
                                 amsgrad=o.get("amsgrad", False))
    raise ValueError(name)


def torch_loss(name, out, y):
    if name == "cross_entropy":
        return F.cross_entropy(out, y[:, 0].long())
    if name == "soft_cross_entropy":
        return F.cross_entropy(out, y)  # probability targets (torch >= 1.10)
    if name == "mse":
        return F.mse_loss(out, y)
    if name == "bce_logits":
        return F.binary_cross_entropy_with_logits(out, y)
    if name == "bce":
        return F.binary_cross_entropy(out, y)
    raise ValueError(name)


def torch_run(case, model, x, y):
    """STEPS steps on consecutive batches (DataLoader, shuffle=False,
    drop_last=False); returns per-step losses and total grad norms."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch_optimizer(case["optimizer"], model.parameters())
    max_norm = case.get("max_norm")
    losses, norms, pos = [], [], 0
    for _ in range(STEPS):
        xb, yb = xt[pos:pos + BATCH], yt[pos:pos + BATCH]
        pos = pos + BATCH if pos + BATCH < len(xt) else 0
        opt.zero_grad()
        loss = torch_loss(case["loss"], model(xb), yb)
        loss.backward()
        if max_norm is not None:
            total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        else:
            total = torch.norm(torch.stack([p.grad.detach().norm(2) for p in model.parameters()]), 2)
        norms.append(float(total))
        losses.append(float(loss.detach()))
        opt.step()
    return losses, norms


def config_yaml(case, csv_path, targets):
    if case.get("max_norm") is not None:
        guard = ("{enabled: true, clip: {mode: global_norm, max_norm: %r}, nonfinite: error, "
                 "spike: {enabled: false}, recover: {enabled: false}}" % case["max_norm"])
    else:
        guard = "{enabled: false}"
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
        "schedule: {name: constant, warmup_steps: 0}",  # the default warms up 200 steps
        "guard: %s" % guard,
        "train: {epochs: %d, batch_size: %d}" % (STEPS * BATCH // ROWS + 2, BATCH),
        "",
    ])


# ---- the cases ---------------------------------------------------------------

def classifier(name, optimizer):
    return {"name": name, "layers": MLP, "loss": "cross_entropy", "target": "labels",
            "optimizer": optimizer}


CASES = [
    classifier("sgd", {"name": "sgd", "lr": 0.1}),
    classifier("momentum", {"name": "momentum", "lr": 0.02, "momentum": 0.9}),
    classifier("nesterov", {"name": "nesterov", "lr": 0.02, "momentum": 0.9}),
    classifier("adam", {"name": "adam", "lr": 0.001}),
    classifier("adamw", {"name": "adamw", "lr": 0.001, "weight_decay": 0.01}),
    classifier("sgd_momentum_wd_dampening",
               {"name": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.1,
                "weight_decay": 0.001}),
    classifier("adam_wd_amsgrad",
               {"name": "adam", "lr": 0.001, "weight_decay": 0.01, "amsgrad": True}),
    {"name": "mse_regression", "loss": "mse", "target": "regression3",
     "layers": MLP[:-1] + [("dense", {"units": 3}), ("identity", {})],
     "optimizer": {"name": "momentum", "lr": 0.01, "momentum": 0.9}},
    {"name": "bce_logits", "loss": "bce_logits", "target": "binary",
     "layers": MLP[:-1] + [("dense", {"units": 1})],
     "optimizer": {"name": "adam", "lr": 0.001}},
    {"name": "bce_sigmoid", "loss": "bce", "target": "binary",
     "layers": MLP[:-1] + [("dense", {"units": 1}), ("sigmoid", {})],
     "optimizer": {"name": "sgd", "lr": 0.1}},
    {"name": "soft_cross_entropy", "loss": "soft_cross_entropy", "target": "probs5",
     "layers": MLP, "optimizer": {"name": "adamw", "lr": 0.001, "weight_decay": 0.01}},
    {"name": "leaky_relu_elu_sigmoid", "loss": "cross_entropy", "target": "labels",
     "layers": [("dense", {"units": 32}), ("leaky_relu", {"slope": 0.1}),
                ("dense", {"units": 32}), ("elu", {"alpha": 1.0}),
                ("dense", {"units": 32}), ("sigmoid", {}),
                ("dense", {"units": 5})],
     "optimizer": {"name": "nesterov", "lr": 0.05, "momentum": 0.9}},
    # 650 rows: every epoch ends with a batch of 10
    dict(classifier("uneven_last_batch_sgd_nesterov",
                    {"name": "sgd", "lr": 0.02, "momentum": 0.9, "nesterov": True}), rows=650),
    dict(classifier("clip_global_norm", {"name": "momentum", "lr": 0.05, "momentum": 0.9}),
         max_norm=0.05),
]


def run_case(case, work, seed):
    """Returns (ok, message, details)."""
    d = os.path.join(work, case["name"])
    os.makedirs(d)
    x, y = make_data(seed, case["target"], case.get("rows", ROWS))
    csv_path = os.path.join(d, "data.csv")
    write_csv(csv_path, x, y)
    targets = y.shape[1]
    torch.manual_seed(seed)
    model = pu.torch_model(FEATURES, case["layers"])
    init = os.path.join(d, "init.safetensors")
    pu.save_safetensors(init, pu.state_dict_to_numpy(model))
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(case, csv_path, targets))

    out = os.path.join(d, "run")
    pu.run_gradguard(["train", cfg, "--init", init, "--steps", STEPS, "--out", out, "--quiet"])
    steps = pu.step_rows(pu.read_metrics(out))
    t_losses, t_norms = torch_run(case, model, x, y)

    problems = []
    if len(steps) != STEPS:
        problems.append("metrics.jsonl has %d step lines, expected %d" % (len(steps), STEPS))
    loss_err, norm_err, worst_step = 0.0, 0.0, 0
    for i, (row, tl, tn) in enumerate(zip(steps, t_losses, t_norms)):
        if row.get("step") != i + 1:
            problems.append("line %d has step %r" % (i + 1, row.get("step")))
            break
        gl, gn = row.get("loss"), row.get("grad_norm")
        if gl is None or gn is None:
            problems.append("step %d: loss %r, grad_norm %r" % (i + 1, gl, gn))
            break
        e = abs(gl - tl) / max(abs(tl), 1e-30)
        if e > loss_err:
            loss_err, worst_step = e, i + 1
        norm_err = max(norm_err, abs(gn - tn) / max(abs(tn), 1e-30))
        if case.get("max_norm") is not None and not (tn > case["max_norm"] and row["clip_coef"] < 1):
            problems.append("step %d: not clipped (torch norm %.4g, clip_coef %r)"
                            % (i + 1, tn, row["clip_coef"]))
            break
        if abs(row["lr"] - case["optimizer"]["lr"]) > 1e-12:
            problems.append("step %d: lr %r, expected %r" % (i + 1, row["lr"], case["optimizer"]["lr"]))
            break
    if loss_err > LOSS_RTOL:
        i = worst_step - 1
        problems.append("loss differs: step %d gradguard %.9g torch %.9g (rel %.3g > %g)"
                        % (worst_step, steps[i]["loss"], t_losses[i], loss_err, LOSS_RTOL))
    if norm_err > NORM_RTOL:
        problems.append("grad_norm differs: max rel %.3g > %g" % (norm_err, NORM_RTOL))

    gg_w = pu.load_safetensors(os.path.join(out, "model.safetensors"))
    t_w = pu.state_dict_to_numpy(model)
    if sorted(gg_w) != sorted(t_w):
        problems.append("tensor names differ: gradguard %s, torch %s" % (sorted(gg_w), sorted(t_w)))
    w_err, w_worst = 0.0, ""
    for name in sorted(t_w):
        if name not in gg_w:
            continue
        if gg_w[name].shape != t_w[name].shape or gg_w[name].dtype != np.float32:
            problems.append("%s: gradguard %s %s, torch %s float32" % (
                name, gg_w[name].dtype, list(gg_w[name].shape), list(t_w[name].shape)))
            continue
        e = pu.rel_max_err(gg_w[name], t_w[name])
        if e > w_err:
            w_err, w_worst = e, name
    if w_err > WEIGHT_RTOL:
        problems.append("weights differ: %s max rel %.3g > %g" % (w_worst, w_err, WEIGHT_RTOL))
    msg = "loss max rel %.2e (step %d), grad_norm max rel %.2e, weights max rel %.2e (%s)" % (
        loss_err, worst_step, norm_err, w_err, w_worst)
    return not problems, msg + ("" if not problems else "\n    " + "\n    ".join(problems)), out


def case_load_state_dict(run_dir):
    """gradguard's model.safetensors loads into the torch module, strictly."""
    layers = CASES[0]["layers"]
    model = pu.torch_model(FEATURES, layers)
    state = {k: torch.from_numpy(v) for k, v in
             pu.load_safetensors(os.path.join(run_dir, "model.safetensors")).items()}
    model.load_state_dict(state, strict=True)
    for k, v in model.state_dict().items():
        if not torch.equal(v, state[k]):
            return False, "%s changed on loading" % k
    x = torch.zeros(2, FEATURES)
    if not torch.isfinite(model(x)).all():
        return False, "the loaded model gives non-finite outputs"
    return True, "load_state_dict(strict=True) took %d tensors" % len(state)


def case_reject_wrong_shape(work):
    """--init with a wrong-shape tensor, or a missing one: exit 2, naming it."""
    d = os.path.join(work, "reject")
    os.makedirs(d)
    x, y = make_data(1, "labels")
    csv_path = os.path.join(d, "data.csv")
    write_csv(csv_path, x, y)
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(CASES[0], csv_path, 1))
    torch.manual_seed(1)
    good = pu.state_dict_to_numpy(pu.torch_model(FEATURES, MLP))
    notes = []
    bad_shape = dict(good)
    bad_shape["layers.2.weight"] = np.zeros((32, 31), np.float32)
    missing = {k: v for k, v in good.items() if k != "layers.4.bias"}
    for label, tensors, name in (("wrong shape", bad_shape, "layers.2.weight"),
                                 ("missing tensor", missing, "layers.4.bias")):
        path = os.path.join(d, label.replace(" ", "_") + ".safetensors")
        pu.save_safetensors(path, tensors)
        out = os.path.join(d, "run_" + label.replace(" ", "_"))
        try:
            p = pu.run_gradguard(["train", cfg, "--init", path, "--steps", 1, "--out", out,
                                  "--quiet"], expect=2)
        except RuntimeError as e:
            return False, "%s: %s" % (label, e)
        if name not in p.stderr:
            return False, "%s: the message does not name %s: %r" % (label, name, p.stderr.strip())
        if os.path.exists(out):
            return False, "%s: the run directory %s was created for a refused run" % (label, out)
        notes.append("%s -> 2: %s" % (label, p.stderr.strip().splitlines()[-1]))
    return True, "; ".join(notes)


def main():
    binary = pu.gg_bin()
    if not os.access(binary, os.X_OK):
        print("gradguard binary not found: %s (set GG_BIN)" % binary)
        return 2
    work = tempfile.mkdtemp(prefix="gg-parity-mlp-")
    passed = failed = 0
    first_run = None

    def report(name, ok, msg):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        pu.log("%s %-30s %s" % ("PASS" if ok else "FAIL", name, msg))

    try:
        for k, case in enumerate(CASES):
            try:
                ok, msg, out = run_case(case, work, seed=100 + k)
                if first_run is None:
                    first_run = out
            except Exception as e:  # one broken case must not hide the others
                ok, msg = False, "%s: %s" % (type(e).__name__, e)
                traceback.print_exc()
            report(case["name"], ok, msg)
        try:
            ok, msg = case_load_state_dict(first_run) if first_run else (False, "no run to load")
        except Exception as e:
            ok, msg = False, "%s: %s" % (type(e).__name__, e)
        report("torch_load_state_dict", ok, msg)
        try:
            ok, msg = case_reject_wrong_shape(work)
        except Exception as e:
            ok, msg = False, "%s: %s" % (type(e).__name__, e)
        report("init_rejects_bad_file", ok, msg)
    finally:
        if os.environ.get("GG_PARITY_KEEP") == "1" or failed:
            pu.log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
