#!/usr/bin/env bash
# GRAM grid generation with the installed generator: N grids stopping each sample at its first
# valid step (the default) against the same N with --all-steps (the paper's 16 steps for every
# sample), same seed, one after the other. Prints each run's summary line and wall time.
# Usage: bench/gram_generate.sh [N] [SEED]   (N 200, seed 1; nothing else should run)
set -euo pipefail
n=${1:-200}; seed=${2:-1}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for mode in early all; do
  extra=(); [ "$mode" = all ] && extra=(--all-steps)
  t0=$(date +%s.%N)
  rsolve generate sudoku --model gram -n "$n" --seed "$seed" "${extra[@]}" > "$tmp/$mode.txt" 2> "$tmp/$mode.err"
  t1=$(date +%s.%N)
  python3 -c "import sys; print(f'{sys.argv[1]:<6} {float(sys.argv[2]) - float(sys.argv[3]):8.1f} s  ' + sys.argv[4])" \
    "$mode" "$t1" "$t0" "$(tail -n 1 "$tmp/$mode.err")"
done
echo "same grids in both runs: $(comm -12 <(sort "$tmp/early.txt") <(sort "$tmp/all.txt") | wc -l)"
