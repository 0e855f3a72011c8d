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


def check_lines(d, m):
    steps, epochs, epoch_step, events, summary, monitored = m
    cid = d["id"]
    total = sum(len(s["x"]) for s in d["series"])
    check(total <= max(2000, 48 * len(d["series"])), f"{cid}: {total} points")
    for s in d["series"]:
        src, xs, ys = s["source"], s["x"], s["y"]
        name = f"{cid}/{s['label']}"
        check(len(xs) == len(ys) and len(xs) > 0, f"{name}: x and y lengths")
        check(all(a < b for a, b in zip(xs, xs[1:])), f"{name}: x not increasing")
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


def check_page(html_path, m):
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
    for cid in expected:
        check(cid in data, f"no data block for chart {cid}")
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
            check_lines(d, m)
        else:
            check_heat(d, m)
    return data


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
