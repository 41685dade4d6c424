#!/usr/bin/env bash
# The maze figures of README "Maze results": the shipped ldt and trm maze checkpoints
# against bfs, on the Maze-Hard validation split (100 mazes held back from training,
# built by bench/ldt_data.sh from ../shared/data) and on freshly generated mazes of
# three sizes (seeds none of the training runs used).
# Usage: bench/maze_eval.sh [LIMIT]   (run it with nothing else on the machine: it reports mazes/s)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
limit=${1:-100}
out="$here/runs/eval/maze"; mkdir -p "$out"
val="$here/runs/data/maze-all.val.jsonl"
[ -f "$val" ] || bench/ldt_data.sh
# fresh mazes: Maze-Hard's recipe at 30x30 (path > 110 cells), its area-scaled
# minimum at 15x15, and at 60x60 a path over 200 cells (the generator finds no
# 60x60 random-wall layouts with the area-scaled 440)
rsolve generate maze --size 30 -n "$limit" --seed 30001 -o "$out/gen30.jsonl" 2>/dev/null
rsolve generate maze --size 15 --min-path 27 -n "$limit" --seed 15001 -o "$out/gen15.jsonl" 2>/dev/null
rsolve generate maze --size 60 --min-path 200 -n "$limit" --seed 60001 -o "$out/gen60.jsonl" 2>/dev/null

run() {  # name, dataset, args...
  local name=$1 set=$2; shift 2
  echo "## $name: rsolve eval $(basename "$set") --limit $limit $*"
  rsolve eval "$set" --limit "$limit" -q "$@" -f jsonl > "$out/$name.jsonl"
  python3 "$here/bench/eval_summary.py" "$out/$name.jsonl"
}

for set in val gen30 gen15 gen60; do
  file="$out/$set.jsonl"; [ "$set" = val ] && file="$val"
  run "$set-ldt" "$file" -m ldt,bfs
  run "$set-ldt-none" "$file" -m ldt -O propagate=none
  run "$set-trm" "$file" -m trm  # a grid-mixer trm grows to larger mazes, with steps scaled by the side
done
