#!/usr/bin/env bash
# keep_abstained.sh - keep the puzzles a model did not solve and re-solve just those.
#
# Use case: a fast but fallible model (for example a neural engine with a
# checkpoint) solves a batch; every answer is verified, and anything it could not
# answer with a verified solution comes back with status "abstained" (or
# "unsolvable"/"invalid"). This script keeps exactly those records as JSONL and
# pipes them back into `rsolve solve` with another model. `rsolve solve` accepts
# JSON lines with a `puzzle` field as input, so no conversion is needed.
#
# Usage: examples/keep_abstained.sh [INPUT] [WORKDIR]
#   INPUT    a puzzle file in any format rsolve reads (default: puzzles/sudoku9.txt)
#   WORKDIR  where to write first.jsonl, kept.jsonl and retry.jsonl (default: temp dir)
#   FIRST_MODEL / RETRY_MODEL  environment variables, the two engines
#            (default: auto, then sat). Extra first-pass flags such as
#            `--checkpoint DIR` can be given in FIRST_ARGS.
#
# With the default exact engines nothing abstains: every puzzle is solved on the
# first pass, kept.jsonl is created EMPTY and the re-solve step is skipped. The
# script still succeeds; it only shows the plumbing. Expected output then:
#   first pass: 5 records, 5 solved
#   kept 0 records that were not solved -> WORKDIR/kept.jsonl
#   nothing to re-solve
# With a model that abstains, the last lines instead read e.g.
#   kept 3 records that were not solved -> WORKDIR/kept.jsonl
#   re-solved with sat: 3 records, 3 solved -> WORKDIR/retry.jsonl
# Exit status: 0 when everything ended up solved, else rsolve's exit status of the
# re-solve step (1 some still not solved, 2 invalid records).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INPUT="${1:-$HERE/../puzzles/sudoku9.txt}"
WORKDIR="${2:-$(mktemp -d)}"
FIRST_MODEL="${FIRST_MODEL:-auto}"
RETRY_MODEL="${RETRY_MODEL:-sat}"
command -v jq > /dev/null || { echo "$0: needs jq" >&2; exit 2; }
mkdir -p "$WORKDIR"

# 1. First pass. Exit status 1 (some not solved) or 2 (some invalid record) is
#    expected here; stop only when rsolve wrote nothing (usage error, no file).
first=0
# shellcheck disable=SC2086  # FIRST_ARGS is deliberately split into words
rsolve solve "$INPUT" --model "$FIRST_MODEL" ${FIRST_ARGS:-} --format jsonl --quiet \
    > "$WORKDIR/first.jsonl" || first=$?
if [ "$first" -ne 0 ] && [ ! -s "$WORKDIR/first.jsonl" ]; then
    exit "$first"
fi
echo "first pass: $(wc -l < "$WORKDIR/first.jsonl") records," \
     "$(jq -c 'select(.status == "solved")' "$WORKDIR/first.jsonl" | wc -l) solved"

# 2. Keep the records whose status is not "solved" (may be an empty file).
jq -c 'select(.status != "solved")' "$WORKDIR/first.jsonl" > "$WORKDIR/kept.jsonl"
n_kept=$(wc -l < "$WORKDIR/kept.jsonl")
echo "kept $n_kept records that were not solved -> $WORKDIR/kept.jsonl"

# 3. Re-solve exactly those by piping the kept JSONL back in. Records that were
#    unreadable (invalid, with no puzzle) cannot be retried; they stay in
#    kept.jsonl for inspection and make the script exit 2.
n_retry=$(jq -c 'select(.puzzle != null)' "$WORKDIR/kept.jsonl" | wc -l)
if [ "$n_retry" -eq 0 ]; then
    echo "nothing to re-solve"
    [ "$n_kept" -eq 0 ] || exit 2
    exit 0
fi
status=0
jq -c 'select(.puzzle != null)' "$WORKDIR/kept.jsonl" \
    | rsolve solve - --model "$RETRY_MODEL" --format jsonl --quiet > "$WORKDIR/retry.jsonl" || status=$?
[ "$n_retry" -eq "$n_kept" ] || [ "$status" -ne 0 ] || status=2
echo "re-solved with $RETRY_MODEL: $(wc -l < "$WORKDIR/retry.jsonl") records," \
     "$(jq -c 'select(.status == "solved")' "$WORKDIR/retry.jsonl" | wc -l) solved -> $WORKDIR/retry.jsonl"
exit "$status"
