#!/usr/bin/env bash
# Broken files, generated: IDX, CSV, YAML configs and safetensors, each
# derived from a good file by one deliberate change and run through
# `gradguard train` (or `eval`). Every case must exit with status 2, print
# exactly one line on stderr that names the file (path, and line:column
# for YAML and CSV) and says what is wrong, print nothing on stdout, never
# crash (status >= 128 or a sanitizer report), never hang (timeout 20 s),
# and leave no run directory (nor anything in its working directory).
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
work=$(mktemp -d /tmp/gg-broken-XXXXXX)
# GG_BROKEN_KEEP=1 keeps the files; GG_BROKEN_VERBOSE=1 shows every message.
[ -n "${GG_BROKEN_KEEP:-}" ] && echo "# files in $work" || trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# The generator: `gen.py setup WORK` writes the good files, `gen.py cases
# WORK` the broken ones and WORK/cases.tsv (NAME, STATUS, patterns, args).
cat >"$work/gen.py" <<'PYEOF'
#!/usr/bin/python3
# gen.py setup WORK | gen.py cases WORK: writes the good files, then the
# broken ones and the case table WORK/cases.tsv, one case a line:
#   NAME \t STATUS \t PATTERN\x1fPATTERN... \t ARG\x1fARG...
# The first pattern is the location (the path, and line:column for YAML
# and CSV); the others say what is wrong.
# Every file is derived from a good one by one deliberate change, so a
# case that passes for the wrong reason is unlikely.
import gzip, json, os, random, struct, sys

mode, W = sys.argv[1], sys.argv[2]
US = "\x1f"
IDX_FILES = {
    "ti": "train-images-idx3-ubyte", "tl": "train-labels-idx1-ubyte",
    "ei": "t10k-images-idx3-ubyte", "el": "t10k-labels-idx1-ubyte",
}


def idx(typ, dims, payload):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


GOOD_IMG = idx(8, [20, 4, 4], bytes(range(0, 256, 16)) * 20)
GOOD_LAB = idx(8, [20], bytes(i % 3 for i in range(20)))
GOOD = {"ti": GOOD_IMG, "tl": GOOD_LAB, "ei": GOOD_IMG, "el": GOOD_LAB}


def gz(b):
    return gzip.compress(b, mtime=0)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_idx_dir(d, compress, replace=None):
    for k, stem in IDX_FILES.items():
        if replace and k in replace:
            continue
        write(f"{d}/{stem}" + (".gz" if compress else ""), gz(GOOD[k]) if compress else GOOD[k])


CSV_HEADER = "a,b,c,d,label"
CSV_ROWS = [",".join(f"{((i * 7 + j * 3) % 11) / 10:.1f}" for j in range(4)) + f",{i % 3}"
            for i in range(20)]
GOOD_CSV = CSV_HEADER + "\n" + "\n".join(CSV_ROWS) + "\n"

# The good config; the line numbers are those of the file (1-based).
CFG = [
    "# gradguard config for the broken-file tests (caf\u00e9)",
    "seed: 1",
    'data: {dataset: "idx:GOOD", validation: 0, normalize: standardize, shuffle: true}',
    "model:",
    "  input: [16]",
    "  layers:",
    "    - dense: {units: 8, init: he_normal}",
    "    - relu: {}",
    "    - dense: {units: 10}",
    "loss: cross_entropy",
    "optimizer: {name: adam, lr: 0.001}",
    "schedule: {name: cosine, warmup_steps: 2}",
    "guard: {clip: {mode: global_norm, max_norm: 1.0, norm_type: 2}, nonfinite: skip}",
    "train: {epochs: 1, batch_size: 4}",
]


def cfg_lines():
    return [l.replace("GOOD", f"{W}/good-idx") for l in CFG]


def cfg_text(lines):
    return ("\n".join(lines) + "\n").encode()


if mode == "setup":
    write_idx_dir(f"{W}/good-idx", True)
    write_idx_dir(f"{W}/good-raw", False)
    write(f"{W}/good.csv", GOOD_CSV.encode())
    write(f"{W}/good.yaml", cfg_text(cfg_lines()))
    sys.exit(0)

# ---- cases --------------------------------------------------------------------------------

cases, names, families = [], set(), {}


def esc(s):
    """s as an extended regular expression matching itself."""
    return "".join("\\" + c if c in ".[]()*+?{}|^$\\" else c for c in s)


def case(family, name, args, pats, want=2):
    name = f"{family}_{name}"
    assert name not in names, name
    assert all("\t" not in x and "\n" not in x and US not in x for x in list(args) + list(pats))
    names.add(name)
    families[family] = families.get(family, 0) + 1
    cases.append(f"{name}\t{want}\t{US.join(pats)}\t{US.join(args)}")


SMALL = ["--set", "data.validation=0", "--set", "model.input=[16]",
         "--set", "model.layers.0.dense.units=8", "--steps", "1"]
SMALL_CSV = ["--set", "data.validation=0", "--set", "model.input=[4]",
             "--set", "model.layers.0.dense.units=8", "--steps", "1"]
DIR = object()

# ---- IDX ---------------------------------------------------------------------------------


def idx_case(name, which, content, pats, compress=True, as_is=False, want=2):
    """A copy of the good set with file `which` replaced by content (raw bytes,
    gzipped unless as_is; DIR for a directory; a str for a symlink target)."""
    d = f"{W}/idx/{name}"
    write_idx_dir(d, compress, replace={which})
    target = f"{d}/{IDX_FILES[which]}" + (".gz" if compress else "")
    if content is DIR:
        os.makedirs(target)
    elif isinstance(content, str):
        os.symlink(content, target)
    else:
        write(target, content if (as_is or not compress) else gz(content))
    case("idx", name, ["train", *SMALL, "--set", f"data.dataset=idx:{d}"], [esc(target), *pats],
         want)


# Truncated images, raw and gzipped: in the magic, the dims and the data.
for off in [0, 1, 3, 4, 5, 7, 8, 11, 12, 15, 16, 17, 100, 335]:
    idx_case(f"images_raw_truncated_at_{off}", "ti", GOOD_IMG[:off], ["truncated"], compress=False)
for off in [0, 2, 6, 10, 14, 16, 200, 335]:
    idx_case(f"images_gz_truncated_at_{off}", "ti", GOOD_IMG[:off], ["truncated"])
for off in [0, 3, 4, 7, 8, 27]:
    idx_case(f"labels_raw_truncated_at_{off}", "tl", GOOD_LAB[:off], ["truncated"], compress=False)
idx_case("test_images_truncated", "ei", GOOD_IMG[:300], ["truncated", "announces 320 bytes"])
idx_case("test_labels_truncated", "el", GOOD_LAB[:12], ["truncated"])

# Every byte of the magic wrong.
for pos, vals in [(0, [0x01, 0x1f, 0xff]), (1, [0x08, 0x80]), (2, [0x00, 0x07, 0x0a, 0x0f, 0xff])]:
    for v in vals:
        b = bytearray(GOOD_IMG)
        b[pos] = v
        idx_case(f"magic_byte{pos}_{v:02x}", "ti", bytes(b), ["bad magic", "expected"])
b = bytearray(GOOD_LAB)
b[2] = 0x10
idx_case("labels_magic_type_10", "tl", bytes(b), ["bad magic"])
for nd in [0, 9, 255]:
    b = bytearray(GOOD_IMG)
    b[3] = nd
    idx_case(f"ndim_{nd}", "ti", bytes(b), [f"header has {nd} dimensions", "expected 1 to 8"])
idx_case("images_ndim_1", "ti", idx(8, [320], bytes(320)), ["images have 1 dimensions", "expected"])
idx_case("images_ndim_4", "ti", idx(8, [20, 4, 2, 2], bytes(320)), ["4 dimensions", "expected"])
idx_case("labels_ndim_2", "tl", idx(8, [20, 1], bytes(20)), ["labels have 2 dimensions"])

# Dims that lie.
idx_case("dims_larger_than_data", "ti", idx(8, [20, 4, 5], GOOD_IMG[16:]),
         ["truncated", "announces 400 bytes"])
idx_case("dims_100000_images", "ti", idx(8, [100000, 28, 28], GOOD_IMG[16:]),
         ["truncated", "announces 78400000 bytes"])
idx_case("dims_product_overflows_64_bits", "ti", idx(8, [0xFFFFFFFF] * 3, GOOD_IMG[16:]),
         ["too many values"])
idx_case("dims_2_to_the_48", "ti", idx(8, [1 << 16] * 3, GOOD_IMG[16:]), ["too many values"])
idx_case("labels_8_dims_of_4g", "tl", idx(8, [0xFFFFFFFF] * 8, b""), ["too many values"])
idx_case("dims_i32_over_4gib", "ti", idx(0x0c, [1 << 28, 2, 2], GOOD_IMG[16:]),
         ["too many values|truncated"])
# Zero images: the message must name the images file, not only data.validation.
d = f"{W}/idx/zero_images"
write_idx_dir(d, True, replace={"ti", "tl"})
write(f"{d}/{IDX_FILES['ti']}.gz", gz(idx(8, [0, 4, 4], b"")))
write(f"{d}/{IDX_FILES['tl']}.gz", gz(idx(8, [0], b"")))
case("idx", "zero_images", ["train", *SMALL, "--set", f"data.dataset=idx:{d}"],
     [esc(f"{d}/{IDX_FILES['ti']}.gz"), "no images|0 images|empty"])
d = f"{W}/idx/zero_images_huge_dims"
write_idx_dir(d, True, replace={"ti", "tl"})
write(f"{d}/{IDX_FILES['ti']}.gz", gz(idx(8, [0, 0xFFFFFFFF, 0xFFFFFFFF], b"")))
write(f"{d}/{IDX_FILES['tl']}.gz", gz(idx(8, [0], b"")))
case("idx", "zero_images_huge_dims", ["train", *SMALL, "--set", f"data.dataset=idx:{d}"],
     [esc(f"{d}/{IDX_FILES['ti']}.gz")])
d = f"{W}/idx/zero_width_images"  # train and test alike: no other file to compare with
write_idx_dir(d, True, replace={"ti", "ei"})
for k in ("ti", "ei"):
    write(f"{d}/{IDX_FILES[k]}.gz", gz(idx(8, [20, 0, 4], b"")))
case("idx", "zero_width_images", ["train", *SMALL, "--set", f"data.dataset=idx:{d}"],
     [esc(f"{d}/{IDX_FILES['ti']}.gz"), "20 x 0 x 4|0 pixels|empty"])

idx_case("height_over_int_max_width_0", "ti", idx(8, [20, 0x80000000, 0], b""),
         ["2147483648 x 0|0 pixels|empty|too (large|many)"])

# Labels that do not fit the images.
idx_case("labels_19_for_20_images", "tl", idx(8, [19], GOOD_LAB[8:27]), ["19 labels", "20 images"])
idx_case("labels_21_for_20_images", "tl", idx(8, [21], GOOD_LAB[8:] + b"\x01"),
         ["21 labels", "20 images"])
idx_case("test_labels_5_for_20_images", "el", idx(8, [5], bytes(5)), ["5 labels", "20 images"])
idx_case("labels_over_65535", "tl",
         idx(0x0c, [20], b"".join(struct.pack(">i", 70000 if i == 4 else i % 3) for i in range(20))),
         ["label 4 is 70000", "(<=|at most|up to|to) 65535"])
idx_case("labels_negative", "tl", idx(0x09, [20], bytes([0, 1, 2, 0xff] + [0] * 16)),
         ["label 3 is -1", "expected"])
idx_case("labels_fractional", "tl",
         idx(0x0d, [20], b"".join(struct.pack(">f", 0.5 if i == 7 else 1.0) for i in range(20))),
         ["label 7 is 0.5"])
idx_case("labels_nan", "tl",
         idx(0x0d, [20], b"".join(struct.pack(">f", float("nan") if i == 2 else 1.0)
                                  for i in range(20))), ["label 2 is (nan|-nan)"])
idx_case("images_nan_pixel", "ti",
         idx(0x0d, [20, 4, 4], b"".join(struct.pack(">f", float("nan") if i == 37 else 0.5)
                                        for i in range(320))), ["not finite|NaN|nan"])
idx_case("images_inf_pixel", "ti",
         idx(0x0e, [20, 4, 4], b"".join(struct.pack(">d", float("-inf") if i == 300 else 0.5)
                                        for i in range(320))), ["not finite|inf"])
d = f"{W}/idx/test_images_other_size"  # which file is wrong is a guess: the directory will do
write_idx_dir(d, True, replace={"ei"})
write(f"{d}/{IDX_FILES['ei']}.gz", gz(idx(8, [20, 5, 5], bytes(500))))
case("idx", "test_images_other_size", ["train", *SMALL, "--set", f"data.dataset=idx:{d}"],
     [esc(d), "16 pixels", "25"])

# Trailing data, inside the (decompressed) data and after the gzip stream.
idx_case("images_raw_trailing_byte", "ti", GOOD_IMG + b"\0", ["trailing data"], compress=False)
idx_case("images_raw_trailing_kib", "ti", GOOD_IMG + bytes(1024), ["trailing data"],
         compress=False)
idx_case("images_gz_trailing_bytes", "ti", GOOD_IMG + b"garbage", ["trailing data"])
idx_case("labels_gz_trailing_byte", "tl", GOOD_LAB + b"\x01", ["trailing data"])
idx_case("labels_gz_garbage_after_stream", "tl", gz(GOOD_LAB) + b"JUNKJUNK",
         ["trailing|garbage|corrupt"], as_is=True)

# Corrupt gzip streams.
z = bytearray(gz(GOOD_IMG))
for name, pos, val in [("crc", len(z) - 8, None), ("isize", len(z) - 3, None),
                       ("deflate_block_type", 10, 0xff), ("deflate_middle", len(z) // 2, None)]:
    b = bytearray(z)
    b[pos] = val if val is not None else b[pos] ^ 0x55
    idx_case(f"gz_bad_{name}", "ti", bytes(b), ["corrupt|truncated|incorrect|invalid"], as_is=True)
for off in [3, 10, 12, len(z) // 2, len(z) - 8, len(z) - 4, len(z) - 1]:
    idx_case(f"gz_stream_cut_at_{off}", "ti", bytes(z[:off]), ["truncated|corrupt|unexpected end"],
             as_is=True)

# Empty files, a directory, special files.
idx_case("images_empty_gz_named", "ti", b"", ["truncated", "file has 0"], as_is=True)
idx_case("labels_empty_raw", "tl", b"", ["truncated", "file has 0"], compress=False)
idx_case("images_is_a_directory", "ti", DIR, ["[Ii]s a directory|not a regular file"])
idx_case("labels_raw_is_a_directory", "tl", DIR, ["[Ii]s a directory|not a regular file"],
         compress=False)
idx_case("images_is_dev_null", "ti", "/dev/null", ["truncated"], compress=False)
idx_case("images_is_dev_zero", "ti", "/dev/zero", ["bad magic"], compress=False)

# ---- CSV ---------------------------------------------------------------------------------


def csv_case(name, text, pats, want=2, extra=()):
    path = f"{W}/csv/{name}.csv"
    if text is DIR:
        os.makedirs(path)
    else:
        write(path, text if isinstance(text, bytes) else text.encode())
    loc = [esc(path) + pats[0]] if pats[0].startswith(":") else [esc(path), pats[0]]
    case("csv", name, ["train", *SMALL_CSV, *extra, "--set", f"data.dataset=csv:{path}"],
         loc + list(pats[1:]), want)
    return path


def rows_with(line, row):
    """The good CSV with 1-based line `line` replaced by row."""
    lines = GOOD_CSV.split("\n")
    lines[line - 1] = row
    return "\n".join(lines)


def col_of(row, field):
    return row.index(field) + 1


for line, row in [(2, "0.1,0.2,0.3,1"), (7, "0.1,0.2,0.3,0.4,1,9"), (21, "0.5"),
                  (12, "0.1,0.2,0.3,0.4,1,")]:
    n = row.count(",") + 1
    csv_case(f"ragged_line_{line}_{n}_fields", rows_with(line, row),
             [f":{line}:[0-9]+:", f"expected 5 fields, found {n}"])
for tag, line, row, field in [("x", 3, "0.1,0.2,x,0.4,1", "x"),
                              ("1.2.3", 5, "0.1,1.2.3,0.3,0.4,1", "1.2.3"),
                              ("quoted", 6, '0.1,0.2,"0.3",0.4,1', '"0.3"'),
                              ("empty_field", 8, "0.1,,0.3,0.4,1", ",,"),
                              ("trailing_junk", 9, "0.1,0.2,0.3,4e5q,1", "4e5q"),
                              ("in_label", 10, "0.1,0.2,0.3,0.4,one", "one")]:
    col = col_of(row, field) + (1 if field == ",," else 0)
    csv_case(f"not_a_number_{tag}", rows_with(line, row),
             [f":{line}:{col}:", "expected a number"])
for tag, tok in [("inf", "inf"), ("minus_inf", "-inf"), ("nan", "nan"), ("NaN", "NaN"),
                 ("1e999", "1e999"), ("minus_1e999", "-1e999"), ("infinity", "Infinity")]:
    row = f"0.1,0.2,{tok},0.4,1"
    csv_case(f"nonfinite_{tag}", rows_with(4, row), [":4:9:", "finite"])
csv_case("empty_file", "", [":", "no data rows"])
csv_case("only_header", CSV_HEADER + "\n", [":", "no data rows"])
csv_case("only_header_and_blank_lines", CSV_HEADER + "\n\n  \n\t\n", [":", "no data rows"])
csv_case("only_bom_and_header", "\ufeff" + CSV_HEADER + "\r\n", [":", "no data rows"])
csv_case("nul_in_row", rows_with(6, "0.1,0.2,0.\0003,0.4,1").encode(), [":6:11:", "NUL"])
csv_case("nul_in_header", ("a,b\0,c,d,label\n" + "\n".join(CSV_ROWS)).encode(), [":1:4:", "NUL"])
csv_case("one_column", "label\n" + "\n".join(str(i % 3) for i in range(20)) + "\n",
         [":", "1 columns|column"])
# Labels: the true line (a blank line is skipped before it) and column.
text = CSV_HEADER + "\n" + CSV_ROWS[0] + "\n\n" + CSV_ROWS[1] + "\n" + "0.1,0.2,0.3,0.4,0.5\n" + \
    "\n".join(CSV_ROWS[2:]) + "\n"
csv_case("label_fractional", text, [":5:17:", "label", "0\\.5"])
text = CSV_HEADER + "\n\n" + "\n".join(CSV_ROWS[:5]) + "\n0.1,0.2,0.3,0.4,-1\n" + \
    "\n".join(CSV_ROWS[5:]) + "\n"
csv_case("label_negative", text, [":8:17:", "label", "-1"])
csv_case("label_over_65535", rows_with(3, "0.1,0.2,0.3,0.4,70000"),
         [":3:17:", "70000", "(<=|at most|up to|to) 65535"])
csv_case("is_a_directory", DIR, [":", "[Ii]s a directory|not a regular file"])

# ---- YAML configs ----------------------------------------------------------------------------


def cfg_case(name, content, pats, want=2, args=()):
    """content: bytes, or {line: new text} applied to the good config."""
    path = f"{W}/yaml/{name}.yaml"
    if content is DIR:
        os.makedirs(path)
    elif isinstance(content, str):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(content, path)
    else:
        if isinstance(content, dict):
            lines = cfg_lines()
            for k in sorted(content, reverse=True):  # None deletes the line
                if content[k] is None:
                    del lines[k - 1]
                else:
                    lines[k - 1] = content[k]
            content = cfg_text(lines)
        write(path, content)
    loc = [esc(path) + pats[0]] if pats[0].startswith(":") else [esc(path), pats[0]]
    case("yaml", name, ["train", path, "--steps", "1", *args], loc + list(pats[1:]), want)


def at(line, text, token):
    return f":{line}:{text.index(token) + 1}:"


def value_case(name, line, text, token, *pats):
    change = {line: text}
    if line == 6:  # model.layers replaced: its items go too
        change.update({7: None, 8: None, 9: None})
    cfg_case(name, change, [at(line, text, token), *pats])


# Wrong types.
for name, line, text, token, key in [
    ("seed_word", 2, "seed: abc", "abc", "seed"),
    ("seed_negative", 2, "seed: -1", "-1", "seed"),
    ("validation_word", 3, "data: {dataset: 'idx:X', validation: many}", "many", "data.validation"),
    ("shuffle_number", 3, "data: {shuffle: 3}", "3}", "data.shuffle"),
    ("normalize_number", 3, "data: {normalize: 7}", "7}", "data.normalize"),
    ("dataset_number", 3, "data: {dataset: 5}", "5}", "data.dataset"),
    ("input_word", 5, "  input: abc", "abc", "model.input"),
    ("input_float", 5, "  input: [16.5]", "16.5", "model.input"),
    ("layers_number", 6, "  layers: 5", "5", "model.layers"),
    ("loss_number", 10, "loss: 1.5", "1.5", "loss"),
    ("optimizer_name_list", 11, "optimizer: {name: [sgd], lr: 0.1}", "[sgd]", "optimizer.name"),
    ("lr_word", 11, "optimizer: {name: adam, lr: fast}", "fast", "optimizer.lr"),
    ("nesterov_maybe", 11, "optimizer: {nesterov: maybe}", "maybe", "optimizer.nesterov"),
    ("warmup_fraction", 12, "schedule: {name: cosine, warmup_steps: 1.5}", "1.5",
     "schedule.warmup_steps"),
    ("max_norm_list", 13, "guard: {clip: {max_norm: [1]}}", "[1]", "guard.clip.max_norm"),
    ("guard_enabled_2", 13, "guard: {enabled: 2}", "2}", "guard.enabled"),
    ("exclude_mapping", 13, "guard: {clip: {exclude: {a: 1}}}", "{a: 1}", "guard.clip.exclude"),
    ("epochs_word", 14, "train: {epochs: ten}", "ten", "train.epochs"),
    ("batch_size_fraction", 14, "train: {batch_size: 4.5}", "4.5", "train.batch_size"),
    ("units_word", 7, "    - dense: {units: eight}", "eight", "units"),
    ("init_unknown", 7, "    - dense: {units: 8, init: he_normall}", "he_normall", "init"),
    ("data_scalar", 3, "data: 5", "5", "data"),
    ("optimizer_list", 11, "optimizer: [1, 2]", "[1, 2]", "optimizer"),
]:
    value_case(f"type_{name}", line, text, token, esc(key), "expected")

# Out of range.
for name, line, text, token, key, want in [
    ("lr_0", 11, "optimizer: {lr: 0}", "0}", "optimizer.lr", "> 0"),
    ("lr_minus_1", 11, "optimizer: {lr: -1}", "-1", "optimizer.lr", "> 0"),
    ("lr_nan", 11, "optimizer: {lr: nan}", "nan", "optimizer.lr", "> 0"),
    ("lr_dot_nan", 11, "optimizer: {lr: .nan}", ".nan", "optimizer.lr", "> 0"),
    ("lr_dot_inf", 11, "optimizer: {lr: .inf}", ".inf", "optimizer.lr", "> 0"),
    ("lr_minus_inf", 11, "optimizer: {lr: -.inf}", "-.inf", "optimizer.lr", "> 0"),
    ("lr_1e999", 11, "optimizer: {lr: 1e999}", "1e999", "optimizer.lr", "> 0"),
    ("batch_size_0", 14, "train: {batch_size: 0}", "0}", "train.batch_size", ">= 1"),
    ("batch_size_1e12", 14, "train: {batch_size: 1e12}", "1e12", "train.batch_size", ">= 1"),
    ("batch_size_2_to_31", 14, "train: {batch_size: 2147483648}", "2147483648",
     "train.batch_size", ">= 1"),
    ("epochs_minus_1", 14, "train: {epochs: -1}", "-1", "train.epochs", ">= 1"),
    ("epochs_0", 14, "train: {epochs: 0}", "0}", "train.epochs", ">= 1"),
    ("units_0", 7, "    - dense: {units: 0}", "0}", "units", ">= 1"),
    ("units_minus_3", 7, "    - dense: {units: -3}", "-3", "units", ">= 1"),
    ("norm_type_half", 13, "guard: {clip: {norm_type: 0.5}}", "0.5", "guard.clip.norm_type", ">= 1"),
    ("momentum_1", 11, "optimizer: {name: sgd, momentum: 1}", "1}", "optimizer.momentum",
     "in \\[0, 1\\)"),
    ("beta2_2", 11, "optimizer: {beta2: 2}", "2}", "optimizer.beta2", "in \\[0, 1\\)"),
    ("validation_negative", 3, "data: {validation: -5}", "-5", "data.validation", ">= 0"),
    ("test_fraction_1", 3, "data: {test_fraction: 1}", "1}", "data.test_fraction", "in \\[0, 1\\)"),
    ("seed_2_to_64", 2, "seed: 18446744073709551616", "1844", "seed", "integer"),
]:
    value_case(f"range_{name}", line, text, token, esc(key), want)

# Unknown keys at each level, unknown layers and layer parameters.
for name, line, text, token, pat in [
    ("top", 2, "sead: 1", "sead", "did you mean 'seed'"),
    ("data", 3, "data: {datset: xor}", "datset", "did you mean 'dataset'"),
    ("model", 5, "  inputs: [16]", "inputs", "did you mean 'input'"),
    ("optimizer", 11, "optimizer: {learning_rate: 0.1}", "learning_rate", "in optimizer"),
    ("schedule", 12, "schedule: {warmup: 2}", "warmup", "in schedule"),
    ("guard", 13, "guard: {clipping: {max_norm: 1}}", "clipping", "in guard"),
    ("guard_clip", 13, "guard: {clip: {max_nrom: 1}}", "max_nrom", "did you mean 'max_norm'"),
    ("guard_spike", 13, "guard: {spike: {windo: 5}}", "windo", "did you mean 'window'"),
    ("train", 14, "train: {epoch: 1}", "epoch", "did you mean 'epochs'"),
    ("dense_param", 7, "    - dense: {unit: 8}", "unit", "did you mean 'units'"),
    ("relu_param", 8, "    - relu: {slope: 0.1}", "slope", "no parameters"),
    ("leaky_relu_param", 8, "    - leaky_relu: {alpha: 0.1}", "alpha", "slope"),
    ("layer_kind", 8, "    - conv9d: {}", "conv9d", "layer kind"),
    ("layer_kind_case", 8, "    - ReLU", "ReLU", "did you mean 'relu'"),
]:
    cfg_case(f"unknown_{name}", {line: text}, [at(line, text, token), "unknown", pat])
cfg_case("layer_two_kinds", {8: "    - {relu: {}, tanh: {}}"}, [":8:[0-9]+:", "2 keys"])
cfg_case("layers_1001", {6: "  layers: [" + ", ".join(["relu"] * 1001) + "]", 7: None, 8: None,
                         9: None}, [":6:[0-9]+:", "model.layers", "1 to 1000", "1001"])
cfg_case("input_5_dims", {5: "  input: [1, 1, 1, 4, 4]"}, [":5:[0-9]+:", "model.input", "up to 4"])
cfg_case("key_of_10k_chars", {2: "k" * 10000 + ": 1"}, [":2:1:", "unknown key 'kkkk"])
cfg_case("value_of_100k_chars", {10: "loss: " + "x" * 100000}, [":10:7:", "loss", "'xxxx"])
cfg_case("layers_empty", {6: "  layers: []", 7: None, 8: None, 9: None},
         [":6:[0-9]+:", "model.layers", "1 to"])
cfg_case("top_level_list", b"- seed: 1\n", [":1:[0-9]+:", "mapping"])
cfg_case("top_level_scalar", b"hello\n", [":1:1:", "mapping"])
cfg_case("null_key", {2: "~: 1"}, [":2:1:", "key"])
cfg_case("duplicate_key", {14: "train: {epochs: 1, epochs: 2}"}, [":14:[0-9]+:", "duplicate"])

# Syntax: tabs, brackets, truncation.
cfg_case("tab_indent", {5: "\tinput: [16]"}, [":5:[0-9]+:", "tab"])
cfg_case("tab_in_block_mapping", {5: "  input:\t\t[16]", 6: "\tlayers:"}, [":6:[0-9]+:"])
for name, line, text in [("open_brace", 11, "optimizer: {name: adam, lr: 0.001"),
                         ("open_bracket", 5, "  input: [16"),
                         ("extra_bracket", 5, "  input: [16]]"),
                         ("extra_brace", 14, "train: {epochs: 1}}"),
                         ("mismatched", 13, "guard: {clip: [mode: none}]"),
                         ("open_quote", 3, 'data: {dataset: "idx:x, validation: 0}')]:
    cfg_case(f"syntax_{name}", {line: text}, [":[0-9]+:[0-9]+:", "syntax error"])
good = cfg_text(cfg_lines())
flow = ("{" + ", ".join(["seed: 1", f'data: {{dataset: "idx:{W}/good-idx", validation: 0}}',
                         "model: {input: [16], layers: [{dense: {units: 8}}, relu, {dense: {units: 10}}]}",
                         "optimizer: {name: adam, lr: 0.001}", "train: {epochs: 1, batch_size: 4}"])
        + "}\n").encode()
for off in [1, 9, len(flow) // 3, len(flow) // 2, len(flow) - 3, len(flow) - 2]:
    cfg_case(f"flow_truncated_at_{off}", flow[:off], [":[0-9]+:[0-9]+:", "syntax error"])
# Cut inside a flow mapping of the block config: the brace is left open.
for line in [3, 7, 11, 13]:
    start = len(cfg_text(cfg_lines()[:line - 1]))
    text = cfg_lines()[line - 1]
    for cut in [text.index("{") + 1, len(text) - 2]:
        cfg_case(f"truncated_line_{line}_col_{cut}", good[:start + cut],
                 [":[0-9]+:[0-9]+:", "syntax error"])
cut = good.index("\u00e9".encode()) + 1  # inside the two bytes of the e-acute
cfg_case("truncated_inside_utf8_char", good[:cut], [":1:[0-9]+:", "UTF-8"])

# Size, depth, aliases, documents.
big = good + b"# padding\n" * (1100 * 1024 // 10)
cfg_case("over_1_mib", big, ["more than"])
cfg_case("dev_zero", "/dev/zero", ["more than|UTF-8"])
cfg_case("is_a_directory", DIR, ["[Ii]s a directory"])
for depth in [40, 65, 300, 100000]:
    cfg_case(f"nested_lists_{depth}", b"seed: " + b"[" * depth + b"]" * depth + b"\n",
             [":1:[0-9]+:", "nest|deep|depth"])
cfg_case("nested_mappings_40", b"train: " + b"{a: " * 40 + b"1" + b"}" * 40 + b"\n",
         [":1:[0-9]+:", "nest|deep|depth"])
cfg_case("nested_block_mappings_50", "".join(f"{'  ' * i}k{i}:\n" for i in range(50)).encode(),
         [":[0-9]+:[0-9]+:", "nest|deep|depth"])
laughs = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
for i in range(1, 10):
    laughs.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
cfg_case("billion_laughs", ("\n".join(laughs) + "\n").encode(), [":2:[0-9]+:", "alias"])
cfg_case("alias_undefined", {12: "schedule: *nowhere"}, [":12:[0-9]+:", "alias"])
cfg_case("alias_reused", {11: "optimizer: &o {name: adam, lr: 0.001}", 12: "schedule: *o"},
         [":12:[0-9]+:", "alias"])
cfg_case("merge_key", {11: "optimizer: &o {name: adam}", 12: "schedule: {<<: *o}"},
         [":12:[0-9]+:", "alias|<<"])
cfg_case("second_document", good + b"---\nseed: 2\n", [":1[67]:[0-9]+:", "second YAML document"])
cfg_case("second_document_after_end", good + b"...\n---\nseed: 2\n",
         [":1[678]:[0-9]+:", "second YAML document"])
cfg_case("two_documents_both_marked", b"---\n" + good + b"---\n" + good,
         [":[0-9]+:[0-9]+:", "second YAML document"])

# Bytes that are not UTF-8 text.
lines = cfg_lines()
for name, line, raw, col in [("byte_ff", 2, b"seed: 1 # \xff", 11), ("lone_c3", 2, b"seed: \xc3", 7),
                             ("overlong_slash", 10, b"loss: \xc0\xaf", 7),
                             ("surrogate", 10, b"loss: \xed\xa0\x80", 7),
                             ("nul_byte", 2, b"seed: 1\x00", 8), ("control_01", 2, b"seed:\x01 1", 6),
                             ("del_7f", 10, b"loss: cross\x7fentropy", 12),
                             ("over_10ffff", 10, b"loss: \xf4\x90\x80\x80", 7),
                             ("directive_9b", 1, b"%\x9b", 2)]:
    b = [l.encode() for l in lines]
    b[line - 1] = raw
    cfg_case(f"not_utf8_{name}", b"\n".join(b) + b"\n", [f":{line}:{col}:", "UTF-8"])
cfg_case("utf16_with_bom", "\ufeffseed: 1\n".encode("utf-16-le"), [":1:1:", "UTF-8"])

# ---- safetensors -------------------------------------------------------------------------------

with open(f"{W}/good-w/model.safetensors", "rb") as f:
    ST = f.read()
HLEN = struct.unpack("<Q", ST[:8])[0]
HDR = json.loads(ST[8:8 + HLEN])
DATA = ST[8 + HLEN:]
META = HDR["__metadata__"]
TENSORS = [(k, v) for k, v in HDR.items() if k != "__metadata__"]


def tensor_bytes(name):
    b, e = HDR[name]["data_offsets"]
    return DATA[b:e]


def st_bytes(header, data, hlen=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def rebuild(entries, meta=META):
    """entries: [(name, dtype, shape, bytes)] laid out in order, tiling the data."""
    header, data = {"__metadata__": meta} if meta is not None else {}, b""
    for name, dtype, shape, b in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    return header, data


GOOD_ENTRIES = [(k, v["dtype"], v["shape"], tensor_bytes(k)) for k, v in TENSORS]
# The build's real type: F32, or F64 in the float64 build.
REAL_FMT = "<d" if HDR[TENSORS[0][0]]["dtype"] == "F64" else "<f"


def with_entry(target, **change):
    out = []
    for n, dt, sh, b in GOOD_ENTRIES:
        if n == target:
            n, dt, sh, b = (change.get("name", n), change.get("dtype", dt), change.get("shape", sh),
                            change.get("data", b))
            if change.get("drop"):
                continue
        out.append((n, dt, sh, b))
    return out


def st_case(name, content, pats, want=2, cmd="train"):
    path = f"{W}/{'st' if cmd == 'train' else 'st-eval'}/{name}.safetensors"
    if content is DIR:
        os.makedirs(path)
    else:
        write(path, content)
    if cmd == "train":
        args = ["train", *SMALL, "--set", f"data.dataset=idx:{W}/good-idx", "--init", path]
    else:
        args = ["eval", path]
    case("st" if cmd == "train" else "st_eval", name, args, [esc(path), *pats], want)


# The header length.
st_case("hlen_past_end", struct.pack("<Q", len(ST) - 7) + ST[8:], ["header length", "too large"])
st_case("hlen_file_size", struct.pack("<Q", len(ST)) + ST[8:], ["header length", "too large"])
st_case("hlen_zero", struct.pack("<Q", 0) + ST[8:], ["header|JSON"])
st_case("hlen_2_to_63", struct.pack("<Q", 1 << 63) + ST[8:], ["header length", "too large"])
st_case("hlen_all_ones", b"\xff" * 8 + ST[8:], ["header length", "too large"])
# One byte short: a padding space moves into the data block; with no
# padding (a header already a multiple of 8), the JSON loses its brace.
st_case("hlen_short_by_one", struct.pack("<Q", HLEN - 1) + ST[8:],
        ["1 unused bytes"] if ST[8 + HLEN - 1:8 + HLEN] == b" " else ["JSON"])
st_case("hlen_short_by_nine", struct.pack("<Q", HLEN - 9) + ST[8:], ["JSON"])
for off in [0, 3, 7, 8, 20, 8 + HLEN // 2, 8 + HLEN - 1, 8 + HLEN, 8 + HLEN + 100, len(ST) - 1]:
    st_case(f"truncated_at_{off}", ST[:off], ["truncated|too large|JSON|data|past the end|unused"])

# The header JSON.
for name, h in [("array", b"[1, 2, 3]"), ("string", b'"layers"'), ("number", b"42"),
                ("null", b"null"), ("invalid", b'{"a": }'), ("open", b"{"),
                ("trailing_comma", b'{"__metadata__": {"format": "pt"},}'),
                ("single_quotes", b"{'__metadata__': {}}"), ("nul_inside", b'{"a\x00b": 1}'),
                ("not_utf8", b'{"\xff": {}}')]:
    st_case(f"header_{name}", st_bytes(h, DATA), ["header|JSON"])
raw = json.dumps(HDR, separators=(",", ":"))
dup = raw[:-1] + ',"layers.0.bias":' + json.dumps(HDR["layers.0.bias"], separators=(",", ":")) + "}"
st_case("header_nested_100000_deep", st_bytes(b'{"a": ' + b"[" * 100000 + b"]" * 100000 + b"}", DATA),
        ["JSON", "depth|nest"])
st_case("shape_integer_too_big",
        st_bytes(raw.replace('"shape":[8,16]', '"shape":[99999999999999999999,16]').encode(), DATA),
        ["JSON", "too big|integer"])
st_case("duplicate_tensor", st_bytes(dup.encode(), DATA), ["duplicate|layers\\.0\\.bias"])
dup = raw[:-1] + ',"__metadata__":{"format":"pt"}}'
st_case("duplicate_metadata", st_bytes(dup.encode(), DATA), ["duplicate|__metadata__"])

# One tensor entry wrong.
W0 = "layers.0.weight"
for name, field, value, pat in [
    ("dtype_unknown", "dtype", "F33", "unknown dtype 'F33'"),
    ("dtype_lowercase", "dtype", "f32", "unknown dtype 'f32'"),
    ("dtype_number", "dtype", 32, "dtype is an integer"),
    ("shape_negative", "shape", [-8, 16], "shape\\[0\\] is negative"),
    ("shape_9_dims", "shape", [8, 16, 1, 1, 1, 1, 1, 1, 1], "9 dims"),
    ("shape_more_bytes", "shape", [8, 17], "needs|hold"),
    ("shape_fewer_bytes", "shape", [8, 15], "needs|hold"),
    ("shape_float", "shape", [8.0, 16], "shape\\[0\\]"),
    ("shape_string", "shape", "8,16", "shape is a string"),
    ("shape_overflows", "shape", [1 << 62, 1 << 62], "overflow"),
    ("offsets_past_end", "data_offsets", [32, 544 + len(DATA)], "past the end"),
    ("offsets_reversed", "data_offsets", [544, 32], "begin <= end"),
    ("offsets_negative", "data_offsets", [-512, 0], "begin <= end|-512"),
    ("offsets_three", "data_offsets", [32, 544, 600], "data_offsets"),
    ("offsets_strings", "data_offsets", ["32", "544"], "data_offsets"),
    ("offsets_huge", "data_offsets", [0, (1 << 63) - 1], "past the end|data_offsets"),
    ("entry_not_object", None, [1, 2], "expected an object"),
]:
    h = json.loads(raw)
    if field is None:
        h[W0] = value
    else:
        h[W0][field] = value
    st_case(f"tensor_{name}", st_bytes(h, DATA), [f"'{esc(W0)}'|{esc(W0)}", pat])
# The tiling of the data block.
h = json.loads(raw)
ES = struct.calcsize(REAL_FMT)  # element size of the build's real type
b0, e0 = h["layers.0.weight"]["data_offsets"]
h["layers.0.weight"]["data_offsets"] = [b0 - ES, e0 - ES]  # overlaps layers.0.bias's last element
st_case("tiling_overlap", st_bytes(h, DATA), ["overlap"])
h = json.loads(raw)
for k, v in h.items():
    if k != "__metadata__" and v["data_offsets"][0] >= 544:
        v["data_offsets"] = [v["data_offsets"][0] + 8, v["data_offsets"][1] + 8]
st_case("tiling_gap", st_bytes(h, DATA[:544] + bytes(8) + DATA[544:]), ["gap of 8"])
st_case("tiling_unused_tail", st_bytes(json.loads(raw), DATA + bytes(16)), ["16 unused bytes"])
h = json.loads(raw)
b2, e2 = h["layers.2.bias"]["data_offsets"]
w0b = h["layers.0.weight"]["data_offsets"][0]
h["layers.2.bias"]["data_offsets"] = [w0b, w0b + e2 - b2]  # shares bytes with layers.0.weight
st_case("tiling_shared_bytes", st_bytes(h, DATA), ["overlap|gap|unused"])
st_case("no_tensors_at_all", st_bytes({"__metadata__": META}, b""), ["no tensor 'layers\\.0\\.weight'"])
st_case("empty_object", st_bytes(b"{}", b""), ["no tensor"])

# Tensors that do not fit the model.
st_case("extra_tensor", st_bytes(*rebuild(GOOD_ENTRIES + [("layers.9.weight", "F32", [2], bytes(8))])),
        ["'layers\\.9\\.weight' is not a parameter"])
st_case("missing_tensor", st_bytes(*rebuild(with_entry("layers.2.bias", drop=True))),
        ["no tensor 'layers\\.2\\.bias'"])
st_case("renamed_tensor", st_bytes(*rebuild(with_entry("layers.2.bias", name="layers.2.Bias"))),
        ["layers\\.2\\.(Bias|bias)"])
st_case("shape_transposed", st_bytes(*rebuild(with_entry(W0, shape=[16, 8]))),
        ["'layers\\.0\\.weight' has shape \\[16, 8\\]", "expects \\[8, 16\\]"])
st_case("shape_flattened", st_bytes(*rebuild(with_entry(W0, shape=[128]))),
        ["has shape \\[128\\]", "expects \\[8, 16\\]"])
st_case("dtype_i8", st_bytes(*rebuild(with_entry("layers.2.bias", dtype="I8", data=bytes(10)))),
        ["'layers\\.2\\.bias' has dtype I8", "F32"])
st_case("dtype_f16", st_bytes(*rebuild(with_entry("layers.2.bias", dtype="F16", data=bytes(20)))),
        ["dtype F16"])
st_case("dtype_bool", st_bytes(*rebuild(with_entry("layers.2.bias", dtype="BOOL", data=bytes(10)))),
        ["dtype BOOL"])
for name, val, fmt, dt in [("nan", float("nan"), "<f", "F32"), ("inf", float("inf"), "<f", "F32"),
                           ("minus_inf", float("-inf"), "<f", "F32"),
                           ("f64_nan", float("nan"), "<d", "F64")]:
    vals = list(struct.unpack("<128" + REAL_FMT[1], tensor_bytes(W0)))
    vals[77] = val
    data = b"".join(struct.pack(fmt, v) for v in vals)
    st_case(f"weight_{name}", st_bytes(*rebuild(with_entry(W0, dtype=dt, data=data))),
            ["'layers\\.0\\.weight' element 77 is not finite"])
for name, meta, pat in [("int", {**META, "format": 1}, "'format' is an integer"),
                        ("null", {**META, "format": None}, "'format' is null"),
                        ("object", {**META, "x": {"a": "b"}}, "'x' is an object"),
                        ("list", [1, 2], "__metadata__ is an array")]:
    st_case(f"metadata_{name}", st_bytes(*rebuild(GOOD_ENTRIES, meta=meta)), [pat])
st_case("is_a_directory", DIR, ["not a regular file|[Ii]s a directory"])

# Bytes of the header changed at seeded positions: XOR 0x80 (never UTF-8
# afterwards), a digit of a name, shape or offset changed (the sizes or the
# names no longer match), a JSON punctuation mark replaced. Each mutant is
# checked here to be refused by a strict JSON parser or to change a tensor.
rng = random.Random(20240611)
hdr = ST[8:8 + HLEN]
tensors_at = hdr.index(b'"layers.')
done = 0
while done < 4:
    p = rng.randrange(HLEN)
    b = bytearray(ST)
    b[8 + p] ^= 0x80
    st_case(f"flip_0x80_at_{8 + p}", bytes(b), ["JSON|header"])
    done += 1
digits = [i for i in range(tensors_at, HLEN) if 48 <= hdr[i] <= 57]
for p in rng.sample(digits, 4):
    b = bytearray(ST)
    b[8 + p] = 48 + (b[8 + p] - 48 + 1 + rng.randrange(9)) % 10
    st_case(f"digit_changed_at_{8 + p}", bytes(b), ["layers\\.|JSON"])
punct = [i for i in range(tensors_at, HLEN) if hdr[i] in b'{}[]":,']
done = 0
while done < 4:
    p = rng.choice(punct)
    b = bytearray(ST)
    b[8 + p] = rng.choice(b"#;x( ")
    try:
        json.loads(bytes(b[8:8 + HLEN]))
        continue  # still JSON: not a clear-cut case
    except ValueError:
        pass
    st_case(f"punct_replaced_at_{8 + p}", bytes(b), ["JSON"])
    done += 1

# eval: a damaged model file, a damaged run directory, broken data.
st_case("truncated", ST[:8 + HLEN + 64], ["past the end|truncated|data"], cmd="eval")
st_case("header_array", st_bytes(b"[]", DATA), ["header"], cmd="eval")
st_case("weight_nan", st_bytes(*rebuild(with_entry(W0, data=struct.pack(REAL_FMT, float("nan")) * 128))),
        ["not finite"], cmd="eval")
st_case("no_config_in_metadata",
        st_bytes(*rebuild(GOOD_ENTRIES, meta={"format": "pt"})), ["gradguard_config"], cmd="eval")
st_case("config_in_metadata_broken",
        st_bytes(*rebuild(GOOD_ENTRIES, meta={**META, "gradguard_config": "train: {epochs: 0}\n"})),
        ["train\\.epochs", ":1:[0-9]+:"], cmd="eval")
st_case("config_in_metadata_alias",
        st_bytes(*rebuild(GOOD_ENTRIES, meta={**META, "gradguard_config": "a: &a 1\nb: *a\n"})),
        ["alias", ":2:[0-9]+:"], cmd="eval")


def run_dir_case(name, file, content, pats, extra=(), target=None):
    """eval of a copy of the good run directory with `file` replaced."""
    d = f"{W}/rundirs/{name}"
    for f in ("config.yaml", "model.safetensors"):
        with open(f"{W}/good-w/{f}", "rb") as src:
            write(f"{d}/{f}", src.read())
    if file:
        write(f"{d}/{file}", content)
    case("eval", name, ["eval", d, *extra], [esc(target or f"{d}/{file}"), *pats])


with open(f"{W}/good-w/config.yaml", "rb") as f:
    RUNCFG = f.read()
run_dir_case("config_tab", "config.yaml", RUNCFG.replace(b"\n  ", b"\n\t", 1),
             [":[0-9]+:[0-9]+:", "tab"])
run_dir_case("config_truncated", "config.yaml", RUNCFG[:RUNCFG.index(b"layers:") + 12],
             [":[0-9]+:[0-9]+:"])
run_dir_case("config_units_changed", "config.yaml", RUNCFG.replace(b"units: 8", b"units: 9", 1),
             ["layers\\.0\\.(weight|bias)", "shape"],
             target=f"{W}/rundirs/config_units_changed/model.safetensors")
run_dir_case("model_truncated", "model.safetensors", ST[:100], ["truncated|too large|JSON"])
d = f"{W}/idx/images_raw_truncated_at_100"
run_dir_case("data_idx_truncated", None, None, ["truncated"], extra=["--data", f"idx:{d}"],
             target=f"{d}/{IDX_FILES['ti']}")
run_dir_case("data_csv_nan", None, None, [":4:9:", "finite"],
             extra=["--data", f"csv:{W}/csv/nonfinite_nan.csv"], target=f"{W}/csv/nonfinite_nan.csv")

with open(f"{W}/cases.tsv", "w") as f:
    f.write("\n".join(cases) + "\n")
with open(f"{W}/families.txt", "w") as f:
    f.write(", ".join(f"{k} {v}" for k, v in families.items()) + f"; {len(cases)} in all\n")
PYEOF

ok() {
    passed=$((passed + 1)); echo "ok   $1"
    [ -n "${GG_BROKEN_VERBOSE:-}" ] && sed 's/^/     stderr: /' "$work/stderr"
    return 0
}
bad() {
    failed=$((failed + 1)); echo "FAIL $1: $2"
    [ -s "$work/stderr" ] && head -n 5 "$work/stderr" | sed 's/^/     stderr: /'
    return 0
}

/usr/bin/python3 "$work/gen.py" setup "$work" || { echo "FAIL setup"; echo "0 passed, 1 failed"; exit 1; }

# The good files first, so that a failure below means the damage, not the
# set-up. The weights of good-w are the ones the safetensors cases damage.
small=(--set data.validation=0 --set model.input=[16] --set model.layers.0.dense.units=8 --steps 1 --quiet)
good() {
    local name=$1; shift
    if "$GG_BIN" "$@" >"$work/stdout" 2>"$work/stderr"; then ok "$name"; else bad "$name" "exit status $?"; fi
}
good good_idx_gz train "${small[@]}" --set "data.dataset=idx:$work/good-idx" --out "$work/good-w"
good good_idx_raw train "${small[@]}" --set "data.dataset=idx:$work/good-raw" --out "$work/good-raw-run"
good good_csv train "${small[@]}" --set model.input=[4] --set "data.dataset=csv:$work/good.csv" \
    --out "$work/good-csv-run"
good good_yaml train "$work/good.yaml" --steps 1 --quiet --out "$work/good-yaml-run"
good good_init train "${small[@]}" --set "data.dataset=idx:$work/good-idx" \
    --init "$work/good-w/model.safetensors" --out "$work/good-init-run"
good good_eval_file eval "$work/good-w/model.safetensors"
good good_eval_dir eval "$work/good-w"
[ -f "$work/good-w/model.safetensors" ] || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }

if ! /usr/bin/python3 "$work/gen.py" cases "$work"; then
    echo "FAIL generating the cases"; echo "$passed passed, $((failed + 1)) failed"; exit 1
fi
echo "# cases: $(cat "$work/families.txt")"

# run_case NAME STATUS PATTERNS ARGS (patterns and args separated by \x1f).
run_case() {
    local name=$1 want=$2 p a
    local -a pats args
    IFS=$'\x1f' read -r -a pats <<<"$3"
    IFS=$'\x1f' read -r -a args <<<"$4"
    local out="$work/runs/$name" cwd="$work/cwd/$name"
    mkdir -p "$cwd"
    [ "${args[0]}" = train ] && args+=(--out "$out" --quiet)
    (cd "$cwd" && exec timeout 20 "$GG_BIN" "${args[@]}") >"$work/stdout" 2>"$work/stderr" </dev/null
    local got=$? why=""
    if [ "$got" -eq 124 ]; then
        why="timed out after 20 s"
    elif [ "$got" -ge 128 ]; then
        why="crashed: exit status $got (signal $((got - 128)))"
    elif grep -Eq 'Sanitizer|runtime error:' "$work/stderr"; then
        why="sanitizer report (exit status $got)"
    else
        [ "$got" -eq "$want" ] || why="exit status $got, expected $want"
        local lines
        lines=$(wc -l <"$work/stderr")
        [ "$lines" -eq 1 ] || why="$why; stderr has $lines lines"
        grep -q '^gradguard: ' "$work/stderr" || why="$why; stderr does not start with 'gradguard: '"
        # The first pattern is the location (the path, line:column); the
        # others, what is wrong, are matched with the paths taken out, so
        # that a word of a file name cannot stand in for the message.
        grep -Eq -- "${pats[0]}" "$work/stderr" || why="$why; stderr lacks /${pats[0]}/"
        sed "s#$work/[^ :']*#PATH#g" "$work/stderr" >"$work/what"
        for p in "${pats[@]:1}"; do
            grep -Eq -- "$p" "$work/what" || why="$why; stderr lacks /$p/"
        done
        [ -s "$work/stdout" ] && why="$why; stdout is not empty"
    fi
    [ -e "$out" ] && why="$why; run directory $out was created"
    [ -n "$(ls -A "$cwd")" ] &&
        why="$why; files left in the working directory: $(ls -A "$cwd" | head -3 | tr '\n' ' ')"
    if [ -z "$why" ]; then ok "$name"; else bad "$name" "${why#; }"; fi
}

while IFS=$'\t' read -r name want pats args; do
    run_case "$name" "$want" "$pats" "$args"
done <"$work/cases.tsv"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
