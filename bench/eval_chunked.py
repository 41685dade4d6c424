"""Run `rsolve eval` over a large set in chunks that survive an interrupted session.

Usage: python bench/eval_chunked.py DATASET NAME [--chunk 125] -- [rsolve eval options]

Each chunk's per-puzzle JSONL goes to runs/eval/NAME/chunk-XXXX.jsonl; a chunk that
already ends with its summary is not run again, so re-running the same command
resumes. When every chunk is done, one summary per model is printed for the whole
set: rates from the per-puzzle rows, puzzles/s as puzzles over the summed chunk
wall times. Needs the dataset as rsolve JSONL (`rsolve data import` makes it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chunk_done(path: Path) -> bool:
    if not path.exists():
        return False
    lines = path.read_text().splitlines()
    return bool(lines) and json.loads(lines[-1]).get("summary", False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("name")
    ap.add_argument("--chunk", type=int, default=125)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a, extra = ap.parse_args(argv[:cut]), argv[cut + 1:]
    rows = Path(a.dataset).read_text().splitlines()
    out = ROOT / "runs" / "eval" / a.name
    out.mkdir(parents=True, exist_ok=True)
    chunks = [rows[i:i + a.chunk] for i in range(0, len(rows), a.chunk)]
    for i, part in enumerate(chunks):
        dest = out / f"chunk-{i:04d}.jsonl"
        if chunk_done(dest):
            continue
        src = out / f"chunk-{i:04d}.input.jsonl"
        src.write_text("\n".join(part) + "\n")
        print(f"[{a.name}] chunk {i + 1}/{len(chunks)} ({len(part)} puzzles)", file=sys.stderr, flush=True)
        t = time.time()
        with open(dest, "w") as f:
            subprocess.run(["rsolve", "eval", str(src), "-f", "jsonl", *extra], stdout=f, check=True)
        print(f"[{a.name}] chunk {i + 1} done in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    summarize(a.name, sorted(out.glob("chunk-*[0-9].jsonl")), len(rows))


def summarize(name: str, files: list[Path], expected: int) -> None:
    status: dict = defaultdict(lambda: defaultdict(int))
    stats: dict = defaultdict(lambda: defaultdict(float))
    seconds: dict = defaultdict(float)
    for path in files:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            model = r.get("model") or r.get("engine")
            if r.get("summary"):
                seconds[model] += r["puzzles"] / r["puzzles_per_s"]
                continue
            status[model]["n"] += 1
            status[model][r["status"]] += 1
            status[model]["wrong"] += "rejected_by_verifier" in (r.get("stats") or {})
            for key, value in (r.get("stats") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    stats[model][key] += value
    for model, s in status.items():
        n = s["n"]
        pct = {k: 100.0 * s[k] / n for k in ("solved", "abstained", "unsolvable", "wrong")}
        mean = {k: v / n for k, v in stats[model].items()}
        print(f"{name} {model:<8} n={n}{'' if n == expected else f' (of {expected})'} "
              f"solved {pct['solved']:.2f}% wrong {pct['wrong']:.2f}% abstained {pct['abstained']:.2f}% "
              f"unsolvable {pct['unsolvable']:.2f}% {n / seconds[model]:.3f}/s "
              f"passes/puzzle {mean.get('passes', 0):.1f} rounds {mean.get('rounds', 0):.1f} "
              f"backtracks {mean.get('backtracks', 0):.1f}")


if __name__ == "__main__":
    main()
