#!/usr/bin/env bash
# Test-time scaling on Sudoku (README "PTRM and GRAM results"): TRM vs PTRM (K rollouts) vs GRAM
# (N trajectories), every selection rule measured on the same rollouts (--sweep runs report=true).
# Usage: bench/scaling_sweep.sh [SET...]   SET: magictour, magictour-f5, forum, forum-f5 (default: all four)
#   magictour: every 49th puzzle of magictour_top1465 (30: lines 1, 50, 99, ...); forum: every 12th of
#   forum_hardest_1106 (32); -f5: the same puzzles with 5 blanks given (`rsolve data easier --fill 5 --seed 0`).
# Env: TRM_SUDOKU, GRAM_SUDOKU (checkpoints; default the installed ones), PTRM_K (default 1,4,16,64),
#      GRAM_N (default 1,16,64), ENGINES (default "trm ptrm gram": which of the three runs, e.g. two
#      shells with ENGINES=ptrm and ENGINES=gram), RUNS (default runs/). Tables on stdout; PNG plots
#      into $RUNS/sweep/ (named by set, engine and values).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data="$here/../shared/data/sudoku/tdoku-datasets"
runs=${RUNS:-$here/runs}
mkdir -p "$runs/data" "$runs/sweep"
trm=(); [ -n "${TRM_SUDOKU:-}" ] && trm=(-c "$TRM_SUDOKU")
gram=(); [ -n "${GRAM_SUDOKU:-}" ] && gram=(-c "$GRAM_SUDOKU")
build() {  # short name, tdoku file suffix, stride
  local full="$runs/data/$2.jsonl"
  [ -f "$full" ] || rsolve data import "$(ls "$data"/puzzles*_"$2")" "$full" --label
  [ -f "$runs/data/$2-f5.jsonl" ] || rsolve data easier "$full" "$runs/data/$2-f5.jsonl" --fill 5 --seed 0
  awk -v k="$3" '(NR-1)%k==0' "$full" > "$runs/data/$1.jsonl"
  awk -v k="$3" '(NR-1)%k==0' "$runs/data/$2-f5.jsonl" > "$runs/data/$1-f5.jsonl"
}
build magictour magictour_top1465 49
build forum forum_hardest_1106 12
for set in "${@:-magictour magictour-f5 forum forum-f5}"; do
  for s in $set; do
    f="$runs/data/$s.jsonl"
    echo "## $s ($(wc -l < "$f") puzzles)"
    k=${PTRM_K:-1,4,16,64} n=${GRAM_N:-1,16,64}
    for e in ${ENGINES:-trm ptrm gram}; do
      case $e in
        trm) rsolve eval "$f" -m trm "${trm[@]}" ;;
        ptrm) rsolve eval "$f" -m ptrm "${trm[@]}" --sweep "samples=$k" --plot "$runs/sweep/$s-ptrm-${k//,/-}.png" ;;
        gram) rsolve eval "$f" -m gram "${gram[@]}" --sweep "samples=$n" --plot "$runs/sweep/$s-gram-${n//,/-}.png" ;;
        *) echo "unknown engine $e (trm, ptrm, gram)" >&2; exit 2 ;;
      esac
    done
  done
done
