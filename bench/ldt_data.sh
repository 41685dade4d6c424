#!/usr/bin/env bash
# Rebuild the datasets the shipped LDT checkpoints were trained and validated on (into runs/data/).
#   sudoku-train.jsonl  6,000 generated 9x9 puzzles with unique solutions (seed 1)
#   sudoku-val.jsonl      400 generated puzzles (seed 2): the validation set of training
#   sudoku-hardval.jsonl   60 generated puzzles rated >= 8 backtracks (seed 7): engine defaults were chosen on it
#   sudoku-hard20.jsonl    32 generated puzzles rated >= 20 backtracks (seed 77; about 5 minutes): the same use
#   sudoku-hard35.jsonl     2 generated puzzles rated >= 35 (seed 202; about 4 minutes): with the two above,
#                           the 94 validation puzzles the one-chain, walk-32 defaults were chosen on
#   sudoku-ptrmval.jsonl   hardval + hard20 (92 puzzles): where PTRM's sigma was checked
#   maze-all.{train,val}.jsonl  Maze-Hard training half, split 900 / 100 (seed 0); the 100 never trained
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/runs/data"; mkdir -p "$out"
rsolve generate sudoku -n 6000 --seed 1 -f jsonl -o "$out/sudoku-train.jsonl"
rsolve generate sudoku -n 400 --seed 2 -f jsonl -o "$out/sudoku-val.jsonl"
rsolve generate sudoku -n 60 --seed 7 --min-rating 8 -f jsonl -o "$out/sudoku-hardval.jsonl"
rsolve generate sudoku -n 32 --seed 77 --min-rating 20 --max-tries 100000 -f jsonl -o "$out/sudoku-hard20.jsonl"
rsolve generate sudoku -n 2 --seed 202 --min-rating 35 --max-tries 10000000 -f jsonl -o "$out/sudoku-hard35.jsonl"
cat "$out/sudoku-hardval.jsonl" "$out/sudoku-hard20.jsonl" > "$out/sudoku-ptrmval.jsonl"
rsolve data import "$here/../shared/data/maze/maze-hard-30x30/train" "$out/maze-all.jsonl"
rsolve data split "$out/maze-all.jsonl" --val 0.1 --seed 0
sha256sum "$out"/*.jsonl
