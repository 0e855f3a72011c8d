#!/usr/bin/env bash
# The default config (an MLP on Fashion-MNIST, guard on) reaches at least
# 89% test accuracy in its 10 epochs. Accuracy only; no timing is asserted.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
work=$(mktemp -d /tmp/gg-acc-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$GG_BIN" train --out "$work/run" --quiet || { echo "0 passed, 1 failed"; exit 1; }
/usr/bin/python3 - "$work/run/metrics.jsonl" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][0]
ok = s["test_acc"] >= 0.89 and s["epochs"] == 10
print(f"default config: test accuracy {100 * s['test_acc']:.2f}% after {s['epochs']} epochs "
      f"({s['seconds']:.1f}s)")
print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
sys.exit(0 if ok else 1)
PY
