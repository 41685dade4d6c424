"""Choose the LDT engine's defaults on a validation set (never on the reported sets).

Usage: python bench/ldt_tune.py DATASET [--limit N] [KEY=V1,V2 ...]
Runs every combination of the given option values and prints solved %, passes per
puzzle and puzzles/s for each, e.g.
    python bench/ldt_tune.py runs/data/sudoku-hardval.jsonl chains=1,2 threshold=0.1,0.3
"""

import itertools
import sys

from rsolve.api import evaluate
from rsolve.puzzles.dataset import load_examples


def main(argv):
    path, rest = argv[0], argv[1:]
    limit = None
    if rest[:1] == ["--limit"]:
        limit, rest = int(rest[1]), rest[2:]
    grid = {}
    for item in rest:
        key, _, values = item.partition("=")
        grid[key] = [_cast(v) for v in values.split(",")]
    examples = load_examples(path)[:limit]
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
        options = dict(zip(keys, combo))
        [report] = evaluate(examples, ["ldt"], options=options)
        d = report.to_dict()
        s = d["mean_stats"]
        print(f"{options}  solved {d['solved_pct']:.1f}%  wrong {d['wrong_pct']:.1f}%  "
              f"passes {s.get('passes', 0):.1f}  rounds {s.get('rounds', 0):.1f}  "
              f"backtracks {s.get('backtracks', 0):.1f}  {d['puzzles_per_s']:.2f}/s", flush=True)


def _cast(v):
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v


if __name__ == "__main__":
    main(sys.argv[1:])
