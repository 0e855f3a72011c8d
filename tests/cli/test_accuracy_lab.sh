#!/usr/bin/env bash
# The stability lab's quick suites give the verdicts the source articles
# predict: in `depth`, the sigmoid net with the naive init vanishes while
# ReLU + He trains; in `explode` (SGD at lr 1) the unguarded run explodes
# and the full guard saves it; the lab writes lab.md and a self-contained
# lab.html with one row per configuration.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
work=$(mktemp -d /tmp/gg-lab-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
verdict() { # NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
row() { # SUITE ROW VERDICT: the Markdown row of ROW has **VERDICT**
    grep -q "^| $2: .* | \*\*$3\*\* |" "$work/$1/lab.md"
    verdict "$1/$2: $3" $?
}

"$GG_BIN" lab depth --quick --out "$work/depth" >"$work/depth.out" 2>&1
verdict "lab depth --quick exits 0" $?
cat "$work/depth.out"
row depth sigmoid-naive vanishes
row depth relu-he trains
row depth relu-he-bn trains
row depth relu-he-residual trains

"$GG_BIN" lab explode --quick --out "$work/explode" >"$work/explode.out" 2>&1
verdict "lab explode --quick exits 0" $?
cat "$work/explode.out"
row explode no-clipping explodes
row explode full-guard "saved by the guard"

# Every row is a run directory; the page names them all and loads nothing.
n_rows=$(grep -c '<span class="v ' "$work/explode/lab.html")
[ "$n_rows" -eq 8 ]
verdict "lab.html has the 8 explode rows ($n_rows)" $?
! grep -Eq '(src|href)="https?:|@import|url\(' "$work/explode/lab.html"
verdict "lab.html makes no external request" $?
[ -s "$work/explode/explode/full-guard/metrics.jsonl" ] && [ -s "$work/explode/explode/full-guard/model.safetensors" ]
verdict "each row is a full run directory" $?

"$GG_BIN" lab nosuch >/dev/null 2>"$work/err"
[ $? -eq 2 ] && grep -q "unknown suite 'nosuch'" "$work/err"
verdict "an unknown suite exits 2 naming it" $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
