#!/usr/bin/env bash
# solve_many.sh - solve a large batch of Sudoku in one stream and tally the results.
#
# Use case: you have (or generate) thousands of puzzles and want every one solved
# by a single `rsolve solve` process (one model load, worker processes for the
# exact engine), then a quick summary of how many came back solved, abstained,
# unsolvable or invalid.
#
# Usage: examples/solve_many.sh [COUNT] [WORKDIR]
#   COUNT    how many 9x9 puzzles to generate (default 2000)
#   WORKDIR  where to write puzzles.txt and results.jsonl (default: a new temp dir)
#   MODEL    environment variable, the engine to use (default sat)
#
# Expected output (stdout), for COUNT=2000 with the exact sat engine:
#   puzzles: 2000
#   results: 2000
#      2000 solved
#   ok: one result per puzzle
# Exit status: 0 when every puzzle got exactly one result line and all were
# solved; 1 if some puzzle was not solved; 2 on a usage error or a count mismatch.
set -euo pipefail

COUNT="${1:-2000}"
WORKDIR="${2:-$(mktemp -d)}"
MODEL="${MODEL:-sat}"
case "$COUNT" in ''|*[!0-9]*) echo "usage: $0 [COUNT] [WORKDIR]" >&2; exit 2 ;; esac
mkdir -p "$WORKDIR"

# 1. Make the puzzles: one 9x9 per line, each with exactly one solution.
rsolve generate sudoku --count "$COUNT" --seed 1 > "$WORKDIR/puzzles.txt"
n_puzzles=$(wc -l < "$WORKDIR/puzzles.txt")
echo "puzzles: $n_puzzles"

# 2. Solve them all in one stream; JSONL keeps one line per input record.
#    `|| status=$?` keeps going on exit 1 (some not solved) so we can still tally.
status=0
rsolve solve "$WORKDIR/puzzles.txt" --model "$MODEL" --format jsonl --quiet \
    > "$WORKDIR/results.jsonl" || status=$?
n_results=$(wc -l < "$WORKDIR/results.jsonl")
echo "results: $n_results"

# 3. Tally the statuses (jq if present, otherwise plain text tools).
if command -v jq > /dev/null; then
    jq -r '.status' "$WORKDIR/results.jsonl" | sort | uniq -c
else
    grep -o '"status":"[a-z]*"' "$WORKDIR/results.jsonl" | cut -d'"' -f4 | sort | uniq -c
fi

# 4. Every puzzle must have produced exactly one result line.
if [ "$n_results" -ne "$n_puzzles" ]; then
    echo "error: $n_puzzles puzzles but $n_results results" >&2
    exit 2
fi
echo "ok: one result per puzzle"
exit "$status"
