#!/usr/bin/env python3
"""The HTML report of a real run, read back with html.parser.

Trains a short XOR run whose learning rate is far too high (so the guard
clips, detects spikes, skips updates, cuts the learning rate, rolls back and
writes a diagnosis), runs `gradguard report` on it and checks:
- every chart's embedded data (the <script type="application/json"> blocks)
  against metrics.jsonl: each point is a line of the file (same step, same
  value), a short run's series are complete, per-epoch points sit at the
  epoch's last step, event lanes hold exactly the events of their kind,
  markers sit on the gradient norm of their step, heat-map cells are the mean
  of log10 of the monitored gradient norms they cover;
- every chart draws as many lines as its data has series, stays within about
  2000 points, and every <svg> has a viewBox and a <title>;
- the same run with "sparsity" added to its step and epoch lines, and a
  compress.jsonl beside it: the pruning charts (sparsity per step, accuracy
  against sparsity) and the compression chart match the files point for
  point, the compression table's cells are the file's numbers formatted as
  documented, and the run without them has none of these sections;
- nothing external: no src or href to http(s), no @import, no remote url(),
  no script but the data blocks and the one inline script;
- the command's errors: no metrics.jsonl or a broken line exits 2 naming the
  file (and line), an unwritable output exits 3.
Needs GG_BIN (set by CTest); GG_SOURCE_DIR is optional.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

GG_BIN = os.environ.get("GG_BIN")
SRC = Path(os.environ.get("GG_SOURCE_DIR", Path(__file__).resolve().parents[2]))
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def close(a, b, rel=1e-6):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


class Page(HTMLParser):
    """Collects svgs (attributes, title, drawn lines), scripts, links and styles."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.svgs = []
        self.svg_depth = 0
        self.scripts = []  # (attrs, text)
        self.in_script = None
        self.in_style = False
        self.styles = []
        self.attrs_all = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.attrs_all.append((tag, a))
        if tag == "svg":
            if self.svg_depth == 0:
                self.svgs.append({"attrs": a, "title": None, "lines": 0, "in_title": False})
            self.svg_depth += 1
        elif self.svg_depth and tag == "title":
            self.svgs[-1]["in_title"] = True
            self.svgs[-1]["title"] = ""
        elif self.svg_depth and tag == "path" and "ln" in a.get("class", "").split():
            self.svgs[-1]["lines"] += 1
        elif tag == "script":
            self.in_script = [a, ""]
        elif tag == "style":
            self.in_style = True
            self.styles.append("")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "svg" and self.svg_depth:
            self.svg_depth -= 1
        elif tag == "title" and self.svg_depth:
            self.svgs[-1]["in_title"] = False
        elif tag == "script" and self.in_script is not None:
            self.scripts.append(tuple(self.in_script))
            self.in_script = None
        elif tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_script is not None:
            self.in_script[1] += data
        elif self.in_style:
            self.styles[-1] += data
        elif self.svg_depth and self.svgs[-1]["in_title"]:
            self.svgs[-1]["title"] += data


def read_metrics(path):
    steps, epochs, events, summary = {}, {}, {}, None
    epoch_step = {}
    last_step = 0
    monitored = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            o = json.loads(line)
            t = o.get("type")
            if t == "step":
                steps[o["step"]] = o
                last_step = o["step"]
                if o.get("params"):
                    monitored.append(o["step"])
            elif t == "epoch":
                epochs[o["epoch"]] = o
                epoch_step[o["epoch"]] = last_step
            elif t == "event":
                events.setdefault(o["kind"], []).append(o["step"])
            elif t == "summary":
                summary = o
    return steps, epochs, epoch_step, events, summary, monitored


def step_value(rec, src):
    if "param" in src:
        return rec.get("params", {}).get(src["param"], {}).get(src["field"])
    if "layer" in src:
        for l in rec.get("layers", []):
            if l["layer"] == src["layer"]:
                return l.get(src["field"])
        return None
    return rec.get(src["field"])


def read_compress(path):
    """The rows of the latest sweep in compress.jsonl (a header starts one)."""
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            o = json.loads(line)
            if o["type"] == "compress_run":
                rows = []
            elif o["type"] == "compress":
                rows.append(o)
    return rows


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_lines(d, m, lab=None):
    steps, epochs, epoch_step, events, summary, monitored = m
    cid = d["id"]
    total = sum(len(s["x"]) for s in d["series"])
    check(total <= max(2000, 48 * len(d["series"])), f"{cid}: {total} points")
    for s in d["series"]:
        src, xs, ys = s["source"], s["x"], s["y"]
        name = f"{cid}/{s['label']}"
        check(len(xs) == len(ys) and len(xs) > 0, f"{name}: x and y lengths")
        if d.get("x_label", "step") == "step":
            check(all(a < b for a, b in zip(xs, xs[1:])), f"{name}: x not increasing")
        if "x_field" in src:  # x is a value of the same line, not its step
            xf, f = src["x_field"], src["field"]
            if src["type"] == "epoch":
                recs = {e: rec for e, rec in epochs.items() if is_num(rec.get(xf)) and is_num(rec.get(f))}
                check(s["epoch"] == sorted(recs), f"{name}: epochs {s['epoch']} != {sorted(recs)}")
                for x, y, e in zip(xs, ys, s["epoch"]):
                    rec = recs.get(e, {})
                    if not check(close(x, rec.get(xf)) and close(y, rec.get(f)),
                                 f"{name}: epoch {e}: ({x}, {y}) != ({rec.get(xf)}, {rec.get(f)})"):
                        break
            elif check(src["type"] == "compress" and lab is not None, f"{name}: unknown source {src}"):
                want = sorted(((r[xf] if is_num(r.get(xf)) else r.get("reached")), r[f])
                              for r in lab if is_num(r.get(f))
                              and (is_num(r.get(xf)) or is_num(r.get("reached"))))
                got = list(zip(xs, ys))
                same = len(got) == len(want) and all(close(a, c) and close(b, e)
                                                     for (a, b), (c, e) in zip(got, want))
                check(same, f"{name}: {got} != {want}")
            continue
        if src["type"] == "step":
            for x, y in zip(xs, ys):
                rec = steps.get(int(x))
                if not check(rec is not None and float(x) == int(x), f"{name}: step {x} not in metrics.jsonl"):
                    break
                if not check(close(y, step_value(rec, src)), f"{name}: step {x}: {y} != {step_value(rec, src)}"):
                    break
            # a short run is drawn whole: every finite (and, on a log scale, positive) value
            want = sorted(k for k, rec in steps.items()
                          if isinstance(step_value(rec, src), (int, float))
                          and (not d["y_log"] or step_value(rec, src) > 0))
            check([int(x) for x in xs] == want, f"{name}: {len(xs)} points, expected all {len(want)}")
        elif src["type"] == "epoch":
            check(len(s["epoch"]) == len(xs), f"{name}: epoch tags")
            for x, y, e in zip(xs, ys, s["epoch"]):
                rec = epochs.get(e)
                if not check(rec is not None, f"{name}: epoch {e} not in metrics.jsonl"):
                    break
                check(x == epoch_step[e], f"{name}: epoch {e} drawn at step {x}, ended at {epoch_step[e]}")
                if not check(close(y, rec[src["field"]]), f"{name}: epoch {e}: {y} != {rec[src['field']]}"):
                    break
            want = sorted(k for k, rec in epochs.items() if isinstance(rec.get(src["field"]), (int, float)))
            check(sorted(s["epoch"]) == want, f"{name}: epochs {len(s['epoch'])} of {len(want)}")
        else:
            check(False, f"{name}: unknown source {src}")
    for e in d["events"]:
        kind, want = e["kind"], sorted(events.get(e["kind"], []))
        check(e["count"] == len(want), f"{cid}: {kind}: count {e['count']} != {len(want)}")
        for st in want:
            check(any(a <= st <= b for a, b in e["ranges"]), f"{cid}: {kind} at step {st} not drawn")
        for a, b in e["ranges"]:
            check(a in want and b in want, f"{cid}: {kind} range [{a},{b}] does not start and end at events")
        if "marks" in e:
            check(len(e["marks"]["x"]) == len(want), f"{cid}: {kind}: {len(e['marks']['x'])} marks of {len(want)}")
            for x, y in zip(e["marks"]["x"], e["marks"]["y"]):
                check(int(x) in want, f"{cid}: {kind} mark at {x} is no event")
                check(close(y, steps[int(x)].get("grad_norm")), f"{cid}: {kind} mark at {x}: {y}")
    for h in d.get("hlines", []):
        if h["label"].startswith("test"):
            check(close(h["y"], summary["test_acc"]), f"{cid}: test line {h['y']}")


def check_heat(d, m):
    steps, _, _, _, _, monitored = m
    names = list(steps[monitored[0]]["params"].keys())
    check(d["rows"] == names, f"heat map rows {d['rows']} != {names}")
    x0, x1, z = d["x0"], d["x1"], d["z"]
    check(x0[0] == monitored[0] and x1[-1] == monitored[-1], "heat map does not span the monitored steps")
    for j in range(len(x0)):
        cover = [s for s in monitored if x0[j] <= s <= x1[j]]
        check(cover and cover[0] == x0[j] and cover[-1] == x1[j], f"heat column {j} bounds")
        if j + 1 < len(x0):
            check(not [s for s in monitored if x1[j] < s < x0[j + 1]], f"heat column {j}: gap after it")
        for r, name in enumerate(names):
            vals = [steps[s]["params"][name]["grad_norm"] for s in cover]
            logs = [math.log10(v) for v in vals if v is not None and v > 0]
            want = sum(logs) / len(logs) if logs else None
            if not check(close(z[r][j], want, 1e-6) if want is not None and z[r][j] is not None
                         else z[r][j] == want, f"heat {name} column {j}: {z[r][j]} != {want}"):
                return


def check_page(html_path, m, lab=None, pruned=False):
    text = Path(html_path).read_text(encoding="utf-8")
    p = Page()
    p.feed(text)
    p.close()
    # self-contained
    for tag, a in p.attrs_all:
        check("src" not in a, f"<{tag}> has src={a.get('src')}")
        for k in ("href", "xlink:href", "action", "data", "poster"):
            v = a.get(k)
            if v is not None:
                check(v.startswith("#"), f"<{tag}> {k}={v}: not a link inside the page")
        st = a.get("style", "")
        check("url(" not in st and "@import" not in st, f"<{tag}> style with url/import")
    for css in p.styles:
        check("@import" not in css, "@import in a style sheet")
        check("url(" not in css.replace("url(#", ""), "url( to a resource in a style sheet")
    check("http://" not in text and "https://" not in text, "an http(s) address in the page")
    # scripts: data blocks, and one inline script
    data, code = {}, []
    for a, body in p.scripts:
        check("src" not in a, "a script with src")
        if a.get("type") == "application/json":
            check(a.get("id", "").startswith("data-"), f"data block id {a.get('id')}")
            data[a["id"][5:]] = json.loads(body)
        else:
            code.append(body)
    check(len(code) == 1, f"{len(code)} inline scripts")
    expected = ["loss", "accuracy", "lr", "grad-norm", "grad-flow", "layer-grad", "update-ratio", "activations"]
    extra = (["sparsity", "accuracy-sparsity"] if pruned else []) + (["compression"] if lab is not None else [])
    for cid in expected + extra:
        check(cid in data, f"no data block for chart {cid}")
    for cid in {"sparsity", "accuracy-sparsity", "compression"} - set(extra):
        check(cid not in data, f"chart {cid} in a report whose run has no data for it")
    check(('id="sec-sparsity"' in text) == pruned, "the pruning card shown or left out wrongly")
    check(('id="compression"' in text) == (lab is not None), "the compression section shown or left out wrongly")
    # svgs
    check(len(p.svgs) >= len(expected), f"{len(p.svgs)} svgs")
    for s in p.svgs:
        a = s["attrs"]
        check(a.get("viewbox") or a.get("viewBox"), f"svg {a.get('id')} without viewBox")
        check(s["title"], f"svg {a.get('id')} without <title>")
        cid = a.get("data-chart")
        if check(cid in data, f"svg {a.get('id')}: no data block {cid}") and data[cid]["kind"] == "lines":
            check(s["lines"] == len(data[cid]["series"]),
                  f"svg {a.get('id')}: {s['lines']} lines drawn, {len(data[cid]['series'])} in its data")
    for cid, d in data.items():
        if d["kind"] == "lines":
            check_lines(d, m, lab)
        else:
            check_heat(d, m)
    if lab is not None:
        check_compress_table(text, lab)
    return data


class Cells(HTMLParser):
    """The text of each <td> of each <tr> in the compression section's table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def check_compress_table(text, lab):
    """Each row of the table: the file's numbers as docs/report.md formats them, by sparsity."""
    start = text.index('<section id="compression"')
    sec = text[start:text.index("</section>", start)]
    p = Cells()
    p.feed(sec[sec.index("<tbody>"):])
    dash = "\u2014"

    def fmt(v, f):
        return f(v) if is_num(v) else dash

    def ratio(a, b):
        return f"{a / b:.2f}x" if is_num(a) and is_num(b) and a > 0 and b > 0 else dash

    pct = lambda v: f"{100 * v:.2f}%"
    want = []
    for r in sorted(lab, key=lambda r: r["sparsity"]):
        want.append([fmt(r.get("sparsity"), lambda v: f"{100 * v:.4g}%"), fmt(r.get("reached"), pct),
                     fmt(r.get("oneshot_accuracy"), pct), fmt(r.get("finetuned_accuracy"), pct),
                     fmt(r.get("int8_accuracy"), pct), fmt(r.get("float_bytes"), lambda v: f"{v / 1024:.1f}"),
                     fmt(r.get("int8_bytes"), lambda v: f"{v / 1024:.1f}"),
                     ratio(r.get("float_bytes"), r.get("int8_bytes")),
                     fmt(r.get("float_samples_per_s"), lambda v: f"{v:.0f}"),
                     fmt(r.get("int8_samples_per_s"), lambda v: f"{v:.0f}"),
                     ratio(r.get("int8_samples_per_s"), r.get("float_samples_per_s"))])
    check(p.rows == want, f"compression table {p.rows} != {want}")


def prune_copy(src_dir, dst_dir):
    """src_dir's run as if it had pruned: sparsity rising to 90% at step 400,
    on step lines and (the last step's) on epoch lines; and a compress.jsonl."""
    os.mkdir(dst_dir)
    Path(dst_dir, "config.yaml").write_bytes(Path(src_dir, "config.yaml").read_bytes())
    sparsity = 0.0
    with open(os.path.join(src_dir, "metrics.jsonl")) as f, open(os.path.join(dst_dir, "metrics.jsonl"), "w") as out:
        for line in f:
            o = json.loads(line)
            if o.get("type") == "step":
                sparsity = round(min(0.9, 0.9 * o["step"] / 400), 6)
                o["sparsity"] = sparsity
            elif o.get("type") == "epoch":
                o["sparsity"] = sparsity
            out.write(json.dumps(o) + "\n")
    lab = [{"type": "compress_run", "model": "runs/<i>x</i>/model.safetensors", "structured": False,
            "scope": "global", "finetune_epochs": 4, "int8_kernel": "avx512-vnni", "test_samples": 10000,
            "calib_samples": 2000, "eval_batch": 1000}]
    for sp, one, ft, q in ((0, 0.8989, None, 0.8987), (0.5, 0.8952, 0.8991, 0.8979), (0.9, 0.61, 0.889, 0.887),
                           (0.75, 0.872, 0.8968, None), (0.95, 0.31, 0.861, 0.858)):
        lab.append({"type": "compress", "sparsity": sp, "reached": sp + 1e-7 if sp else 0, "oneshot_accuracy": one,
                    "finetuned_accuracy": ft, "int8_accuracy": q, "float_bytes": 1630616 - int(sp * 1000),
                    "int8_bytes": 413658 if sp != 0.95 else None, "float_samples_per_s": 72000 + sp * 1000,
                    "int8_samples_per_s": 127000.5, "unknown_field": [1, 2]})
    with open(os.path.join(dst_dir, "compress.jsonl"), "w") as out:
        for o in lab:
            out.write(json.dumps(o) + "\n")
    return lab[1:]


def run(args, **kw):
    return subprocess.run([GG_BIN] + args, capture_output=True, text=True, **kw)


def main():
    if not GG_BIN:
        print("GG_BIN is not set (CTest sets it)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="gg_report_") as tmp:
        rd = os.path.join(tmp, "run")
        r = run(["train", str(SRC / "configs" / "xor.yaml"), "--set", "optimizer.lr=500",
                 "--set", "guard.clip.max_norm=0.02", "--set", "guard.monitor.every=5",
                 "--steps", "600", "--out", rd, "--quiet"])
        check(r.returncode in (0, 1), f"train exit {r.returncode}: {r.stderr}")
        metrics = os.path.join(rd, "metrics.jsonl")
        m = read_metrics(metrics)
        kinds = set(m[3])
        for k in ("clip", "spike", "skip", "lr_cut", "rollback", "diagnosis"):
            check(k in kinds, f"the training run has no '{k}' event (kinds: {sorted(kinds)})")
        r = run(["report", rd])
        check(r.returncode == 0, f"report exit {r.returncode}: {r.stderr}")
        out = os.path.join(rd, "report.html")
        check(r.stdout.strip() == f"report: {out}", f"report printed {r.stdout!r}")
        data = check_page(out, m)
        check(len(data["grad-norm"]["events"]) >= 5, "grad-norm chart without its event lanes")
        # the same run, pruned, with a compression table
        pd = os.path.join(tmp, "pruned")
        lab = prune_copy(rd, pd)
        r = run(["report", pd])
        check(r.returncode == 0, f"report of the pruned run: exit {r.returncode}: {r.stderr}")
        text = Path(pd, "report.html").read_text(encoding="utf-8")
        data = check_page(os.path.join(pd, "report.html"), read_metrics(os.path.join(pd, "metrics.jsonl")),
                          lab, pruned=True)
        check("runs/&lt;i&gt;x&lt;/i&gt;/model.safetensors" in text and "<i>x</i>" not in text,
              "the compress_run header's model not escaped")
        check(">90.0%</div>" in text, "no final sparsity among the stat cards")
        check(data.get("accuracy-sparsity", {}).get("x_percent") is True, "accuracy against sparsity: x not in %")
        # a compress.jsonl line without a type: exit 2 naming the file and line
        with open(os.path.join(pd, "compress.jsonl"), "a") as f:
            f.write('{"sparsity": 0.99}\n')
        r = run(["report", pd])
        check(r.returncode == 2 and "compress.jsonl:7:" in r.stderr and r.stderr.count("\n") == 1,
              f"compress.jsonl without a type: exit {r.returncode}, {r.stderr!r}")
        # -o, and the same data
        other = os.path.join(tmp, "other.html")
        r = run(["report", rd, "-o", other])
        check(r.returncode == 0 and os.path.exists(other), f"report -o: {r.returncode} {r.stderr}")
        # errors
        r = run(["report", os.path.join(tmp, "nope")])
        check(r.returncode == 2 and "nope" in r.stderr and r.stderr.count("\n") == 1,
              f"missing dir: exit {r.returncode}, {r.stderr!r}")
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        r = run(["report", empty])
        check(r.returncode == 2 and os.path.join(empty, "metrics.jsonl") in r.stderr,
              f"no metrics.jsonl: exit {r.returncode}, {r.stderr!r}")
        broken = os.path.join(tmp, "broken")
        os.mkdir(broken)
        with open(os.path.join(broken, "metrics.jsonl"), "w") as f:
            f.write('{"type":"step","step":1,"loss":1}\n{"type":"step","step":2,"loss":}\n{"type":"summary"}\n')
        r = run(["report", broken])
        check(r.returncode == 2 and "metrics.jsonl:2:" in r.stderr and r.stderr.count("\n") == 1,
              f"broken line: exit {r.returncode}, {r.stderr!r}")
        check(not os.path.exists(os.path.join(broken, "report.html")), "a report from a broken file")
        r = run(["report", rd, "-o", os.path.join(tmp, "no", "such", "dir", "r.html")])
        check(r.returncode == 3 and "r.html" in r.stderr, f"unwritable output: exit {r.returncode}, {r.stderr!r}")
        r = run(["report", "--help"])
        check(r.returncode == 0 and "RUN_DIR" in r.stdout, "report --help")
        r = run(["report"])
        check(r.returncode == 2, "report without RUN_DIR")
    if FAILURES:
        print(f"{len(FAILURES)} failures", file=sys.stderr)
        return 1
    print("report: every chart's data matches metrics.jsonl; self-contained; errors as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
