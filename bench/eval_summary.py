"""One line per model from the summary objects of `rsolve eval -f jsonl` (bench scripts)."""
import json
import sys

for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("summary"):
        s = r["mean_stats"]
        print(f"{r['model']:<8} n={r['puzzles']} solved {r['solved_pct']:.2f}% wrong {r['wrong_pct']:.2f}% "
              f"abstained {r['abstained_pct']:.2f}% unsolvable {r['unsolvable_pct']:.2f}% "
              f"{r['puzzles_per_s']:.2f}/s passes/puzzle {s.get('passes', 0):.1f} rounds {s.get('rounds', 0):.1f}")
