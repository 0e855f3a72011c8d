#!/bin/bash
# The report in a real browser: headless Chromium loads the report of a real
# run (a short XOR run with every kind of guard event) with the network cut
# off, and
# - the embedded script runs to its end without throwing (it marks <body
#   data-ready="1">), and the console shows no error, no uncaught exception
#   and no blocked request;
# - prefers-color-scheme is honoured: data-theme is "light" normally and
#   "dark" under --force-dark-mode, and the screenshots' background differs;
# - screenshots at phone (390x844) and desktop (1440x900) widths, light and
#   dark, are written to $GG_SCREENSHOT_DIR (default: a temporary directory)
#   and have the requested size;
# - hover read-outs: on the report of the same run given "sparsity" fields
#   and a compress.jsonl, a pointer on a point of each chart against
#   sparsity (and of the sparsity chart, against the step) shows its values.
# Needs GG_BIN (set by CTest) and `chromium`; without chromium it exits 77
# (skipped).
set -u
: "${GG_BIN:?GG_BIN is not set (CTest sets it)}"
SRC=${GG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CHROMIUM=${GG_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: no chromium on PATH"
    exit 77
fi
tmp=$(mktemp -d /tmp/gg_report_chromium.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
shots=${GG_SCREENSHOT_DIR:-$tmp/shots}
mkdir -p "$shots"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$GG_BIN" train "$SRC/configs/xor.yaml" --set optimizer.lr=500 --set guard.clip.max_norm=0.02 \
    --set guard.monitor.every=5 --steps 600 --out "$tmp/run" --quiet > "$tmp/train.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || { cat "$tmp/train.log"; bad "train exited $rc"; }
"$GG_BIN" report "$tmp/run" > /dev/null || bad "report exited $?"
page="$tmp/run/report.html"
[ -s "$page" ] || { bad "no report"; exit 1; }

# One headless Chromium run: a fresh profile, no network, no background traffic.
chrome() {
    local profile
    profile=$(mktemp -d "$tmp/profile.XXXXXX")
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --no-first-run --no-default-browser-check --disable-sync \
        --disable-extensions --hide-scrollbars --user-data-dir="$profile" \
        --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server="127.0.0.1:9" \
        --enable-logging=stderr --v=0 --virtual-time-budget=5000 "$@" "file://$page"
}

# The DOM after the script ran, and the console.
chrome --dump-dom > "$tmp/dom.html" 2> "$tmp/console.log"
grep -q '<body[^>]*data-ready="1"' "$tmp/dom.html" || bad "the embedded script did not finish (no data-ready on <body>)"
grep -q '<body[^>]*data-theme="light"' "$tmp/dom.html" || bad "light mode not detected (data-theme)"
if grep -E 'Uncaught|CONSOLE|Refused to|net::ERR_' "$tmp/console.log" | grep -v -E 'dbus|Fontconfig' > "$tmp/errors.log"; then
    bad "console errors:"
    cat "$tmp/errors.log"
fi
chrome --dump-dom --force-dark-mode > "$tmp/dom-dark.html" 2> /dev/null
grep -q '<body[^>]*data-theme="dark"' "$tmp/dom-dark.html" || bad "dark mode not detected under --force-dark-mode"

# Screenshots.
for spec in phone:390:844 desktop:1440:900; do
    IFS=: read -r name w h <<< "$spec"
    for mode in light dark; do
        flags=()
        [ "$mode" = dark ] && flags=(--force-dark-mode)
        out="$shots/report-$name-$mode.png"
        rm -f "$out"
        chrome "${flags[@]}" --screenshot="$out" --window-size="$w,$h" > /dev/null 2>&1
        [ -s "$out" ] || { bad "no screenshot $out"; continue; }
    done
done

# Hover read-outs, in a copy of the report of the same run given "sparsity"
# fields and a compress.jsonl: a script moves the pointer onto the
# second-to-last point of each chart's first series and writes the read-out
# it got into <body data-hover>.
/usr/bin/python3 - "$tmp/run" "$tmp/pruned" <<'EOF' || bad "could not make the pruned run"
import json, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir()
(dst / "config.yaml").write_bytes((src / "config.yaml").read_bytes())
sp = 0.0
with open(src / "metrics.jsonl") as f, open(dst / "metrics.jsonl", "w") as out:
    for line in f:
        o = json.loads(line)
        if o.get("type") == "step":
            sp = o["sparsity"] = min(0.9, 0.9 * o["step"] / 400)
        elif o.get("type") == "epoch":
            o["sparsity"] = sp
        out.write(json.dumps(o) + "\n")
with open(dst / "compress.jsonl", "w") as out:
    out.write('{"type":"compress_run","model":"m","finetune_epochs":2}\n')
    for s, a in ((0, 0.9), (0.5, 0.89), (0.9, 0.8), (0.95, 0.6)):
        out.write(json.dumps({"type": "compress", "sparsity": s, "reached": s, "oneshot_accuracy": a,
                              "finetuned_accuracy": None if s == 0 else a + 0.05, "int8_accuracy": a - 0.01,
                              "float_bytes": 4000, "int8_bytes": 1000}) + "\n")
EOF
"$GG_BIN" report "$tmp/pruned" > /dev/null || bad "report of the pruned run exited $?"
/usr/bin/python3 - "$tmp/pruned/report.html" "$tmp/hover.html" <<'EOF' || bad "could not make the hover page"
import sys
from pathlib import Path
probe = """<script>
(function(){var out=[];["compression","accuracy-sparsity","sparsity"].forEach(function(id){
var svg=document.getElementById("chart-"+id),d=JSON.parse(document.getElementById("data-"+id).textContent);
var ds=svg.dataset,s=d.series[0],i=s.x.length-2,r=svg.getBoundingClientRect(),vb=svg.viewBox.baseVal;
var vx=+ds.px0+(s.x[i]-ds.x0)/(ds.x1-ds.x0)*(ds.px1-ds.px0),vy=+ds.py0+(s.y[i]-ds.y0)/(ds.y1-ds.y0)*(ds.py1-ds.py0);
svg.dispatchEvent(new PointerEvent("pointermove",{clientX:r.left+vx*r.width/vb.width,clientY:r.top+vy*r.height/vb.height}));
var tip=document.getElementById("tip");out.push(id+"="+(tip.hidden?"hidden":tip.textContent));});
document.body.setAttribute("data-hover",out.join(" | "));})();
</script>
</body>"""
page = Path(sys.argv[1]).read_text(encoding="utf-8")
Path(sys.argv[2]).write_text(page.replace("</body>", probe), encoding="utf-8")
EOF
(page="$tmp/hover.html"; chrome --dump-dom --window-size=1440,900 > "$tmp/hover-dom.html" 2> /dev/null)
hover=$(grep -o 'data-hover="[^"]*"' "$tmp/hover-dom.html")
echo "$hover" | grep -q 'compression=sparsity 90.00%one-shot80.00%fine-tuned85.00%int879.00%' ||
    bad "compression chart read-out: $hover"
echo "$hover" | grep -q 'accuracy-sparsity=sparsity 90.00% · epoch [0-9]*train' ||
    bad "accuracy against sparsity read-out: $hover"
echo "$hover" | grep -q 'sparsity=step 599 · epoch 599per step90.00%' || bad "sparsity chart read-out: $hover"

# Sizes, and the background of light and dark (a pixel near the top left).
/usr/bin/python3 - "$shots" <<'EOF' || fail=1
import struct, sys, zlib
from pathlib import Path

def png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6), (path, depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(min(h, 8)):  # a few rows are enough for the background
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, tuple(rows[4][4 * bpp:4 * bpp + 3])

ok = True
for name, w, h in (("phone", 390, 844), ("desktop", 1440, 900)):
    px = {}
    for mode in ("light", "dark"):
        path = Path(sys.argv[1]) / f"report-{name}-{mode}.png"
        if not path.exists():
            print("FAIL: missing", path); ok = False; continue
        sw, sh, px[mode] = png(path)
        if (sw, sh) != (w, h):
            print(f"FAIL: {path}: {sw}x{sh}, expected {w}x{h}"); ok = False
    if len(px) == 2:
        light, dark = sum(px["light"]) / 3, sum(px["dark"]) / 3
        if not (light > 200 and dark < 60):
            print(f"FAIL: {name}: background light {px['light']} dark {px['dark']}"); ok = False
sys.exit(0 if ok else 1)
EOF

if [ "$fail" -ne 0 ]; then
    if [ -z "${GG_SCREENSHOT_DIR:-}" ]; then
        keep=$(mktemp -d /tmp/gg_report_chromium_failed.XXXXXX)
        cp -r "$shots" "$page" "$keep"/ 2> /dev/null
        echo "screenshots and the report kept in $keep"
    else
        echo "screenshots in $shots"
    fi
    exit 1
fi
if [ -n "${GG_SCREENSHOT_DIR:-}" ]; then
    echo "report: renders in Chromium without errors, light and dark; screenshots in $shots"
else
    echo "report: renders in Chromium without errors, light and dark (set GG_SCREENSHOT_DIR to keep the screenshots)"
fi
exit 0
