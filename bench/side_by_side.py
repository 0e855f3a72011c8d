"""What the side-by-side benchmarks (bench_mlp.py, bench_cnn.py, bench_lstm.py)
share: Fashion-MNIST as gradguard's defaults load it, the child processes
each measurement runs in (PyTorch's two thread settings among them), and
the best of repeated runs. Imported by those scripts, never run by itself."""
import gzip
import json
import os
import struct
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
TORCH_SETTINGS = (("t1b2", 1, 2), ("t2b1", 2, 1))  # name, torch threads, OpenBLAS threads
SETTINGS_NOTE = ("PyTorch settings: t1b2 = torch.set_num_threads(1) with OPENBLAS_NUM_THREADS=2; "
                 "t2b1 = torch.set_num_threads(2) with OPENBLAS_NUM_THREADS=1")
# Variables that slow OpenBLAS on some machines: removed from the children's
# environment when (and only when) they are set.
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", blob[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">%dI" % ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(directory, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError("%s/%s(.gz): not found" % (directory, stem))


def load_fashion(validation=5000):
    """The training split as gradguard's defaults make it: `validation`
    samples held out, the rest standardised with one mean and one standard
    deviation over all their pixels (data.normalize: standardize). Rows of
    784 float32 values and int64 labels."""
    import numpy as np
    d = os.environ.get("GG_FASHION_MNIST_DIR") or FASHION_DIR
    x = read_idx(find_idx(d, "train-images-idx3-ubyte")).reshape(-1, 784).astype(np.float64)
    y = read_idx(find_idx(d, "train-labels-idx1-ubyte")).astype(np.int64)
    keep = np.random.default_rng(0).permutation(len(x))[validation:]
    keep.sort()
    x, y = x[keep], y[keep]
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), y


def child_env(openblas_threads=None):
    env = dict(os.environ)
    for v in UNSET_VARS:
        env.pop(v, None)
    if openblas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(openblas_threads)
    return env


def run_json(cmd, env, timeout):
    """Runs one measurement; returns the dict of the last JSON line it printed."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s: exit status %d\n%s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("%s: printed no JSON line:\n%s" % (" ".join(cmd), p.stdout))
    return json.loads(lines[-1])


def best_of(cmd, env, repeats, timeout):
    runs = [run_json(cmd, env, timeout) for _ in range(repeats)]
    return max(runs, key=lambda r: r["samples_per_s"])


def find_bench(build_dir, name):
    """The gradguard side's binary, bench_NAME, in build_dir or its bench/."""
    for p in (os.path.join(build_dir, name), os.path.join(build_dir, "bench", name)):
        if os.access(p, os.X_OK):
            return p
    raise SystemExit("%s not found in %s (or its bench/); build it with "
                     "`cmake --build %s --target %s`, or pass --build-dir"
                     % (name, build_dir, build_dir, name))


def unset_note(unset):
    return (" Unset in the children: %s." % ", ".join(unset)) if unset else ""
