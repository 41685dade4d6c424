#!/usr/bin/env bash
# A generated stream through the CLI, as a user pipes it (README "LDT results"):
#   rsolve generate sudoku -n N --seed 1 | rsolve solve - -m ldt -f jsonl
# The puzzles are generated first (into runs/eval/stream-N.txt) so the rate is the
# solver's alone; the solver's peak memory comes from GNU time.
# Usage: bench/ldt_stream.sh [N] [extra solve args...]   (nothing else on the machine)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000}; shift || true
out="$here/runs/eval"; mkdir -p "$out"
puzzles="$out/stream-$n.txt"
[ -f "$puzzles" ] || rsolve generate sudoku -n "$n" --seed 1 -o "$puzzles" 2>/dev/null
echo "## rsolve generate sudoku -n $n --seed 1 | rsolve solve - -m ldt -f jsonl $*"
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$out/stream-$n.rss" rsolve solve - -m ldt -f jsonl -q "$@" < "$puzzles" > "$out/stream-$n.jsonl" || true
end=$(date +%s.%N)
python3 - "$out/stream-$n.jsonl" "$start" "$end" "$(cat "$out/stream-$n.rss")" <<'EOF'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
seconds = float(sys.argv[3]) - float(sys.argv[2])
status = collections.Counter(r["status"] for r in rows)
in_order = [r["index"] for r in rows] == sorted(r["index"] for r in rows)
print(f"{len(rows)} records in {seconds:.1f} s: {len(rows) / seconds:.1f} puzzles/s end to end, "
      f"{dict(status)}, input order kept: {in_order}, peak memory {int(sys.argv[4]) / 1024:.0f} MB")
EOF
