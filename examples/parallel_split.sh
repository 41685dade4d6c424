#!/usr/bin/env bash
# parallel_split.sh - solve a big one-puzzle-per-line file in PARTS parallel pieces.
#
# Use case: spread a large Sudoku file over several independent `rsolve solve`
# processes (for example on a machine where you want explicit control over the
# processes, or as a template for spreading parts over several machines). The
# file is cut into PARTS pieces on line boundaries with `split -n l/PARTS`, the
# pieces are solved concurrently with `xargs -P PARTS` (each process with
# `--jobs 1`, so PARTS processes use PARTS cores), and the outputs are
# concatenated in the original order.
#
# Input must hold one puzzle per line (one-line Sudoku of any size, or JSONL);
# `#` comment lines and blank lines are dropped first. Multi-line grids and mazes
# would be cut apart by `split`, so they are not suitable.
#
# Usage: examples/parallel_split.sh [INPUT] [PARTS] [WORKDIR]
#   INPUT    puzzle file (default: puzzles/sudoku9.txt next to this folder)
#   PARTS    number of pieces and parallel processes (default 4)
#   WORKDIR  where the pieces and their outputs go (default: a new temp dir)
#   MODEL    environment variable, the engine to use (default sat)
#
# Output: the solutions, one line per puzzle in input order (rsolve's text
# format: an unsolved puzzle is printed as `puzzle<TAB>status`), in
# WORKDIR/solutions.txt and on stdout; on stderr a summary such as
#   parallel_split: 5 puzzles in 4 parts -> 5 result lines (5 solved) in WORKDIR/solutions.txt
# Exit status: 0 all solved, 1 some not solved, 2 line count mismatch or usage error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INPUT="${1:-$HERE/../puzzles/sudoku9.txt}"
PARTS="${2:-4}"
WORKDIR="${3:-$(mktemp -d)}"
export MODEL="${MODEL:-sat}"
case "$PARTS" in ''|*[!0-9]*|0) echo "usage: $0 [INPUT] [PARTS>0] [WORKDIR]" >&2; exit 2 ;; esac
[ -r "$INPUT" ] || { echo "$0: $INPUT: no such file" >&2; exit 2; }
mkdir -p "$WORKDIR/parts"
rm -f "$WORKDIR"/parts/part.*

# 1. Drop comments and blank lines, then cut into PARTS pieces on line boundaries.
grep -v -E '^[[:space:]]*(#|$)' "$INPUT" > "$WORKDIR/all.txt" || true
n_puzzles=$(wc -l < "$WORKDIR/all.txt")
[ "$n_puzzles" -gt 0 ] || { echo "$0: $INPUT: no puzzles" >&2; exit 2; }
split -n "l/$PARTS" -d -a 4 "$WORKDIR/all.txt" "$WORKDIR/parts/part."

# 2. Solve the non-empty pieces in parallel, one single-process rsolve each.
#    xargs exits 123 when some rsolve exited 1 or 2 (some puzzle not solved).
status=0
find "$WORKDIR/parts" -name 'part.[0-9]*' ! -name '*.out' -size +0 -print0 | sort -z \
    | xargs -0 -P "$PARTS" -I{} sh -c \
        'rsolve solve "$1" --model "$MODEL" --jobs 1 --format text --quiet > "$1.out"' _ {} \
    || status=$?

# 3. Concatenate the outputs in piece order (the names sort in input order).
find "$WORKDIR/parts" -name 'part.*.out' -print0 | sort -z | xargs -0 cat > "$WORKDIR/solutions.txt"
cat "$WORKDIR/solutions.txt"

# 4. One output line per puzzle, or something went wrong.
n_lines=$(wc -l < "$WORKDIR/solutions.txt")
# solved lines carry no tab (unsolved: puzzle<TAB>status) and no `# invalid:` mark
n_solved=$(grep -c -v -e "$(printf '\t')" -e '^#' "$WORKDIR/solutions.txt" || true)
echo "parallel_split: $n_puzzles puzzles in $PARTS parts -> $n_lines result lines" \
     "($n_solved solved) in $WORKDIR/solutions.txt" >&2
if [ "$n_lines" -ne "$n_puzzles" ]; then
    echo "parallel_split: error: $n_puzzles puzzles but $n_lines result lines" >&2
    exit 2
fi
[ "$status" -eq 0 ] || exit 1
