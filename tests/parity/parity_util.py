"""Helpers shared by the PyTorch parity scripts (tests/parity/test_*.py).

safetensors files are written and read with the standard library and numpy
alone (Debian's python3-safetensors is used only when it is importable), so
the tests need nothing beyond python3-torch and python3-numpy. Everything
else: running the gradguard binary, reading metrics.jsonl, and building the
torch module whose state_dict names match gradguard's (layers.{i}.weight).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

try:  # optional: the reference implementation, when the system has it
    import safetensors.numpy as _st_numpy
except ImportError:  # pragma: no cover - depends on the machine
    _st_numpy = None

# safetensors dtype name <-> numpy little-endian dtype
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


# ---- safetensors --------------------------------------------------------

def save_safetensors(path, tensors, metadata=None, use_library=True):
    """Writes {name: numpy array} as a safetensors file.

    Layout: 8-byte little-endian header length, a JSON header mapping each
    name to {dtype, shape, data_offsets: [begin, end)} relative to the data
    block (plus an optional "__metadata__" of strings), padded with spaces
    to a multiple of 8, then the raw little-endian data in header order."""
    arrays = {}
    for name, a in tensors.items():
        a = np.asarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if np.dtype(dt) not in _NAMES:
            raise ValueError("%s: dtype %s has no safetensors name" % (name, a.dtype))
        arrays[name] = np.asarray(a, dtype=dt, order="C")  # keeps 0-d arrays 0-d
    if use_library and _st_numpy is not None:
        _st_numpy.save_file(arrays, path, metadata=metadata)
        return
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(arrays):  # the reference writer's order
        a = arrays[name]
        raw = a.tobytes()
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path, with_metadata=False):
    """Reads a safetensors file into {name: numpy array} (and its metadata
    dict when with_metadata). Checks what a careful reader checks: the
    header fits the file, offsets are contiguous and match dtype x shape."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: %d bytes, too short for a safetensors file" % (path, len(blob)))
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError("%s: header of %d bytes runs past the end of the file" % (path, n))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        dt = np.dtype(_DTYPES[info["dtype"]])
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dt.itemsize or end > len(data) or begin < 0:
            raise ValueError("%s: tensor %s: offsets [%d, %d) do not fit %s %s"
                             % (path, name, begin, end, info["dtype"], list(shape)))
        out[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
        spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError("%s: data block has a gap or overlap at byte %d" % (path, pos))
        pos = end
    if pos != len(data):
        raise ValueError("%s: %d bytes after the last tensor" % (path, len(data) - pos))
    return (out, meta) if with_metadata else out


def state_dict_to_numpy(module):
    """A torch module's state_dict as {name: float32/float64 numpy array}."""
    return {k: v.detach().cpu().contiguous().numpy() for k, v in module.state_dict().items()}


# ---- running gradguard ----------------------------------------------------

def gg_bin():
    """The gradguard binary: $GG_BIN, else build/release/gradguard."""
    b = os.environ.get("GG_BIN")
    if b:
        return b
    root = os.environ.get("GG_SOURCE_DIR",
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return os.path.join(root, "build", "release", "gradguard")


def child_env(threads=None):
    """The environment for a gradguard child: deterministic thread counts."""
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_gradguard(args, expect=0, timeout=600):
    """Runs `gradguard ARGS...`; returns the CompletedProcess. Raises
    RuntimeError (with the command line, stdout and stderr) unless the exit
    status is `expect`."""
    cmd = [gg_bin()] + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=child_env(), timeout=timeout)
    if p.returncode != expect:
        raise RuntimeError("%s\n  exit status %d, expected %d\n  stdout: %s\n  stderr: %s"
                           % (" ".join(cmd), p.returncode, expect, p.stdout.strip(),
                              p.stderr.strip()))
    return p


def read_metrics(path):
    """metrics.jsonl (a run directory or the file) as a list of dicts."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ValueError("%s:%d: not JSON: %s" % (path, i, e))
    return rows


def step_rows(rows):
    """The "step" records, in order."""
    return [r for r in rows if r.get("type") == "step"]


# ---- config and models ------------------------------------------------------

def layer_yaml(layers):
    """A layer list such as [("dense", {"units": 32}), ("relu", {})] as the
    YAML block of model.layers (flow mappings, one per line)."""
    lines = []
    for kind, opts in layers:
        inner = ", ".join("%s: %s" % (k, yaml_scalar(v)) for k, v in opts.items())
        lines.append("    - %s: {%s}" % (kind, inner))
    return "\n".join(lines)


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (k, yaml_scalar(x)) for k, x in v.items()) + "}"
    return str(v)


def torch_model(in_features, layers):
    """The torch module equal to a gradguard layer list: an nn.Module whose
    `layers` attribute is an nn.Sequential indexed like model.layers, so the
    state_dict names are gradguard's (layers.{i}.weight, layers.{i}.bias).
    Dense layers get nn.Linear's default init from the current torch seed."""
    import torch.nn as nn

    mods, width = [], in_features
    for kind, opts in layers:
        if kind == "dense":
            mods.append(nn.Linear(width, opts["units"], bias=opts.get("bias", True)))
            width = opts["units"]
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "tanh":
            mods.append(nn.Tanh())
        elif kind == "sigmoid":
            mods.append(nn.Sigmoid())
        elif kind == "leaky_relu":
            mods.append(nn.LeakyReLU(opts.get("slope", 0.01)))
        elif kind == "elu":
            mods.append(nn.ELU(opts.get("alpha", 1.0)))
        elif kind == "softmax":
            mods.append(nn.Softmax(dim=-1))
        elif kind == "identity":
            mods.append(nn.Identity())
        else:
            raise ValueError("layer kind %r has no torch equivalent here" % kind)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(*mods)

        def forward(self, x):
            return self.layers(x)

    return Net()


def rel_max_err(a, b):
    """max |a - b| / (max |b| + 1e-12): the per-tensor weight criterion."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("shapes differ: %s vs %s" % (a.shape, b.shape))
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12)) if a.size else 0.0


def log(msg):
    print(msg)
    sys.stdout.flush()
