"""Choose the LDT engine's defaults on a validation set (never on the reported sets).

Usage: python bench/ldt_tune.py DATASET [--limit N] [--checkpoint C1,C2] [KEY=V1,V2 ...]
Runs every combination of the given option values (and checkpoints) after one
warm-up run and prints solved %, passes per puzzle and puzzles/s for each, e.g.
    python bench/ldt_tune.py runs/data/sudoku-hardval.jsonl chains=1,2 threshold=0.1,0.3
"""

import itertools
import sys

from rsolve.api import evaluate
from rsolve.puzzles.dataset import load_examples


def main(argv):
    path, rest = argv[0], argv[1:]
    limit, ckpts = None, [None]
    while rest[:1] in (["--limit"], ["--checkpoint"]):
        if rest[0] == "--limit":
            limit = int(rest[1])
        else:
            ckpts = rest[1].split(",")
        rest = rest[2:]
    grid = {}
    for item in rest:
        key, _, values = item.partition("=")
        grid[key] = [_cast(v) for v in values.split(",")]
    examples = load_examples(path)[:limit]
    keys = list(grid)
    evaluate(examples[:2], ["ldt"], checkpoint=ckpts[0])  # warm-up: the first run pays start-up costs
    for ckpt, combo in itertools.product(ckpts, itertools.product(*(grid[k] for k in keys))):
        options = dict(zip(keys, combo))
        [report] = evaluate(examples, ["ldt"], options=options, checkpoint=ckpt)
        d = report.to_dict()
        s = d["mean_stats"]
        print(f"{ckpt or 'shipped'} {options}  solved {d['solved_pct']:.1f}%  wrong {d['wrong_pct']:.1f}%  "
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
