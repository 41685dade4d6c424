#!/usr/bin/env bash
# The LDT engine's published figures (README "LDT results"), measured with `rsolve eval`.
# Usage: bench/ldt_eval.sh [sudoku|sudoku-none|maze|all] [LIMIT]
#   sudoku       default settings on forum_hardest_1106 and magictour_top1465, with sotaku and sat in the same run
#   sudoku-none  the same sets with --propagate none (the network alone deducing), optional LIMIT
#   maze         the Maze-Hard validation split (the 100 mazes held back from training), with `bfs`
# Needs ../shared/data. Tables go to stdout; per-puzzle JSONL to runs/eval/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data="$here/../shared/data"
what=${1:-all}
limit=${2:-}
out="$here/runs/eval"; mkdir -p "$out"
f6="$data/sudoku/tdoku-datasets/puzzles6_forum_hardest_1106"
f3="$data/sudoku/tdoku-datasets/puzzles3_magictour_top1465"
lim=(); [ -n "$limit" ] && lim=(--limit "$limit")

run() {  # name, dataset, args...
  local name=$1 set=$2; shift 2
  echo "## $name: rsolve eval $(basename "$set") $*"
  rsolve eval "$set" "$@" -f jsonl > "$out/$name.jsonl"
  python3 - "$out/$name.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("summary"):
        s = r["mean_stats"]
        print(f"{r['model']:<8} n={r['puzzles']} solved {r['solved_pct']:.2f}% wrong {r['wrong_pct']:.2f}% "
              f"abstained {r['abstained_pct']:.2f}% unsolvable {r['unsolvable_pct']:.2f}% "
              f"{r['puzzles_per_s']:.2f}/s passes/puzzle {s.get('passes', 0):.1f} rounds {s.get('rounds', 0):.1f}")
PY
}

if [[ $what == sudoku || $what == all ]]; then
  run forum-default "$f6" -m ldt,sotaku,sat
  run magictour-default "$f3" -m ldt,sotaku,sat
fi
if [[ $what == sudoku-none || $what == all ]]; then
  run forum-none "$f6" -m ldt -O propagate=none "${lim[@]}"
  run magictour-none "$f3" -m ldt -O propagate=none "${lim[@]}"
fi
if [[ $what == maze || $what == all ]]; then
  val="$here/runs/data/maze-all.val.jsonl"
  if [ ! -f "$val" ]; then  # the same split the shipped maze checkpoint held back
    rsolve data import "$data/maze/maze-hard-30x30/train" "$here/runs/data/maze-all.jsonl"
    rsolve data split "$here/runs/data/maze-all.jsonl" --val 0.1 --seed 0
  fi
  run maze-val "$val" -m ldt,sotaku,bfs "${lim[@]}"
fi
