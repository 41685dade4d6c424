#!/usr/bin/env bash
# TRM and HRM accuracy tables (README "TRM and HRM"), measured with `rsolve eval`.
# Usage: bench/recursive_eval.sh [trm|hrm|all] [LIMIT]
#   Sudoku: forum_hardest_1106 and magictour_top1465, labelled by the exact solver, and their easier tiers
#           fill5/fill10/fill20/fill30 (`rsolve data easier --fill K --seed 0`: K blanks given from the solution)
#   maze (trm and all): the Maze-Hard validation split (the 100 mazes held back from training)
#   LIMIT: only the first LIMIT puzzles of each set (the data files are always built whole)
# Env: TRM_SUDOKU, HRM_SUDOKU, TRM_MAZE: checkpoint folders (default: the installed checkpoint).
#      MODELS: engines to run, e.g. "trm sat" (default: the chosen model(s) and sat; the exact
#      reference is sat on Sudoku and bfs on mazes, and hrm skips mazes).
#      TIERS: the fill levels K (default "5 10 20 30").
#      RUNS: output root (default runs/): data built once into $RUNS/data, per-puzzle JSONL into $RUNS/eval.
# Needs ../shared/data. One summary line per (set, model) on stdout. "wrong" counts answers the
# verifier rejected; they are reported abstained too, so abstained includes wrong.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data="$here/../shared/data"
what=${1:-all}
limit=${2:-}
case $what in
  trm) default="trm sat" ;;
  hrm) default="hrm sat" ;;
  all) default="trm hrm sat" ;;
  *) echo "usage: bench/recursive_eval.sh [trm|hrm|all] [LIMIT]" >&2; exit 2 ;;
esac
read -r -a models <<< "${MODELS:-$default}"
runs=${RUNS:-$here/runs}
mkdir -p "$runs/data" "$runs/eval"
lim=(); if [ -n "$limit" ]; then lim=(--limit "$limit"); fi
for m in "${models[@]}"; do
  [[ $m == trm || $m == hrm || $m == sat ]] || { echo "MODELS: unknown model $m (trm, hrm, sat)" >&2; exit 2; }
done

has() { local m; for m in "${models[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }

summary() {  # set name, per-puzzle JSONL of `rsolve eval -f jsonl`
  python3 - "$@" <<'PY'
import json, sys
name, path = sys.argv[1:3]
error = None
for line in open(path):
    r = json.loads(line)
    error = error or r.get("error")
    if r.get("summary"):
        lm = "-" if r["label_match_pct"] is None else f"{r['label_match_pct']:.2f}%"
        steps = r["mean_stats"].get("steps")
        print(f"{name:<26} {r['model']:<4} n={r['puzzles']:<5} solved {r['solved_pct']:6.2f}% "
              f"wrong {r['wrong_pct']:6.2f}% abstained {r['abstained_pct']:6.2f}% label match {lm:>7} "
              f"{r['puzzles_per_s']:8.2f}/s mean steps {'-' if steps is None else f'{steps:.2f}'}"
              + (f" invalid {r['invalid_pct']:.2f}% ({error})" if r["invalid_pct"] else ""))
PY
}

evaluate() {  # set name, dataset, kind, model
  local name=$1 set=$2 kind=$3 model=$4 ck=() var out
  if [[ $model == trm || $model == hrm ]]; then
    var=$(tr a-z A-Z <<< "${model}_$kind")
    if [ -n "${!var:-}" ]; then ck=(--checkpoint "${!var}"); fi
  fi
  out="$runs/eval/recursive-$name-$model.jsonl"
  echo "## $name $model: rsolve eval $(basename "$set") -m $model ${ck[*]} ${lim[*]}" >&2
  if rsolve eval "$set" -m "$model" "${ck[@]}" "${lim[@]}" -f jsonl > "$out"; then
    summary "$name" "$out"
  else
    echo "$name $model: not run (rsolve eval failed: see its message on stderr)"
  fi
}

# the data, built once (every step writes atomically, so an interrupted build is redone)
sets=()
for pair in forum_hardest_1106:puzzles6_forum_hardest_1106 magictour_top1465:puzzles3_magictour_top1465; do
  name=${pair%%:*}
  base="$runs/data/$name.jsonl"
  [ -f "$base" ] || rsolve data import "$data/sudoku/tdoku-datasets/${pair#*:}" "$base" --label
  sets+=("$name=$base")
  for k in ${TIERS:-5 10 20 30}; do
    tier="$runs/data/$name.fill$k.jsonl"
    [ -f "$tier" ] || rsolve data easier "$base" "$tier" --fill "$k" --seed 0
    sets+=("$name+fill$k=$tier")
  done
done

for entry in "${sets[@]}"; do
  for model in "${models[@]}"; do
    evaluate "${entry%%=*}" "${entry#*=}" sudoku "$model"
  done
done

if [[ $what != hrm ]] && { has trm || has sat; }; then
  val="$runs/data/maze-all.val.jsonl"
  if [ ! -f "$val" ]; then  # the same split the shipped maze checkpoints held back
    rsolve data import "$data/maze/maze-hard-30x30/train" "$runs/data/maze-all.jsonl"
    rsolve data split "$runs/data/maze-all.jsonl" --val 0.1 --seed 0
  fi
  if has trm; then evaluate maze-hard-val "$val" maze trm; fi
  if has sat; then evaluate maze-hard-val "$val" maze bfs; fi
fi
