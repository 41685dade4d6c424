#!/usr/bin/env bash
# End-to-end throughput of the exact engines through the CLI (parse, solve, verify, print).
# Usage: bench/throughput.sh [REPEATS]   (needs ../shared/data; prints one line per measurement)
# The input holds REPEATS symmetric copies of each set so start-up time (~0.4 s) does not dominate.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data="$here/../shared/data"
reps=${1:-20}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

measure() {  # name, file, count, args...
  local name=$1 file=$2 n=$3; shift 3
  local t0 t1
  t0=$(date +%s.%N)
  rsolve solve "$file" -q "$@" > "$tmp/out"
  t1=$(date +%s.%N)
  python3 -c "import sys; n, t = int(sys.argv[1]), float(sys.argv[2]) - float(sys.argv[3]); \
print(f'{sys.argv[4]:<45} {n:>7} records {t:7.2f} s {n / t:9.1f} /s')" "$n" "$t1" "$t0" "$name"
}

f6="$data/sudoku/tdoku-datasets/puzzles6_forum_hardest_1106"
f3="$data/sudoku/tdoku-datasets/puzzles3_magictour_top1465"
# Each repeat is a different random symmetry of the set (same difficulty, new puzzles),
# so a reused SAT solver cannot get faster by having seen the exact puzzle before.
variants() {  # file, repeats
  python3 - "$1" "$2" <<'PY'
import random, sys
from rsolve.puzzles import Sudoku
from rsolve.puzzles.symmetry import sudoku_symmetry
lines = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
rng = random.Random(0)
for _ in range(int(sys.argv[2])):
    for line in lines:
        s = sudoku_symmetry(9, rng)
        cells = [0] * 81
        for i, v in enumerate(Sudoku.from_string(line).cells):
            cells[s.cells[i]] = s.values[v - 1] if v else 0
        print("".join(str(v) if v else "." for v in cells))
PY
}
variants "$f6" "$reps" > "$tmp/f6.txt"
variants "$f3" "$reps" > "$tmp/f3.txt"
python3 - "$data/maze/maze-hard-30x30/train" "$reps" > "$tmp/maze.txt" <<'PY'
import sys, numpy as np
from rsolve.puzzles import Maze
x = np.load(sys.argv[1] + "/all__inputs.npy")
for _ in range(max(1, int(sys.argv[2]) // 4)):
    for row in x:
        print(Maze.from_tokens(row, 30).to_string() + "\n")
PY
n6=$(wc -l < "$tmp/f6.txt"); n3=$(wc -l < "$tmp/f3.txt"); nm=$(grep -c '^$' "$tmp/maze.txt")
echo "# $(nproc) cores, $(python3 -c 'import platform; print(platform.processor() or platform.machine())')"
measure "sat forum_hardest x$reps (--jobs 0 = all cores)" "$tmp/f6.txt" "$n6" -m sat
measure "sat forum_hardest x$reps (--jobs 1)" "$tmp/f6.txt" "$n6" -m sat -j 1
measure "sat magictour_top1465 x$reps (all cores)" "$tmp/f3.txt" "$n3" -m sat
measure "bfs Maze-Hard train (all cores)" "$tmp/maze.txt" "$nm" -m bfs
measure "bfs Maze-Hard train (--jobs 1)" "$tmp/maze.txt" "$nm" -m bfs -j 1
