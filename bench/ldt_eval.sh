#!/usr/bin/env bash
# The LDT engine's published figures (README "LDT results"), measured with `rsolve eval`.
# Usage: bench/ldt_eval.sh [sudoku|sudoku-none|maze|all] [LIMIT]
#   sudoku       default settings on forum_hardest_1106 and magictour_top1465, with sotaku and sat in the same run
#   sudoku-none  the same sets with --propagate none (the network alone deducing), resumable; LIMIT per chunk
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
  python3 "$here/bench/eval_summary.py" "$out/$name.jsonl"
}

if [[ $what == sudoku || $what == all ]]; then
  run forum-default "$f6" -m ldt,sotaku,sat
  run magictour-default "$f3" -m ldt,sotaku,sat
fi
if [[ $what == sudoku-none || $what == all ]]; then
  # Network alone: about a fifth of these puzzles abstain only at the 1000-round
  # budget, and a batch lasts as long as its slowest puzzle, so each set runs in
  # large batches (forum whole, magictour in two halves). The halves are saved as
  # they finish (runs/eval/NAME/); re-running the same command resumes.
  for pair in forum_hardest_1106:"$f6":375 magictour_top1465:"$f3":733; do
    IFS=: read -r name set chunk <<< "$pair"
    jsonl="$here/runs/data/$name.jsonl"
    [ -f "$jsonl" ] || rsolve data import "$set" "$jsonl" --label
    short=${name%%_*}
    echo "## $short-none: rsolve eval (chunks of $chunk) $(basename "$set") -m ldt -O propagate=none --batch-size $chunk"
    python3 "$here/bench/eval_chunked.py" "$jsonl" "$short-none" --chunk "$chunk" -- \
      -m ldt -O propagate=none --batch-size "$chunk" ${limit:+--limit "$limit"}
  done
fi
if [[ $what == maze || $what == all ]]; then
  val="$here/runs/data/maze-all.val.jsonl"
  if [ ! -f "$val" ]; then  # the same split the shipped maze checkpoint held back
    rsolve data import "$data/maze/maze-hard-30x30/train" "$here/runs/data/maze-all.jsonl"
    rsolve data split "$here/runs/data/maze-all.jsonl" --val 0.1 --seed 0
  fi
  run maze-val "$val" -m ldt,sotaku,bfs "${lim[@]}"
fi
