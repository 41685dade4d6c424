"""The Sudoku closure, three ways, on the batches of states an LDT search settles:
the batched matrix closure (SudokuLattice.settle_matrix, what a GPU runs), unit
propagation by python-sat (rsolve.lattice.sudoku_units) and the numpy bitmask
closure (rsolve.lattice.sudoku_bits), in the same run, on the same batches, by
batch size (the CPU picks between the last two by it: BITMASK_FROM); also checks
that all three agree.

Usage: python bench/closure.py DATASET [LIMIT] [--rules singles|locked]
(run it with nothing else on the machine; the rules default to the engine's)
"""

from __future__ import annotations

import sys
import time

import torch

from rsolve import engines
from rsolve.engines.ldt import DEFAULT_RULES
from rsolve.lattice import sudoku
from rsolve.puzzles.dataset import load_examples


def visited_batches(path: str, limit: int, rules: str) -> list[torch.Tensor]:
    puzzles = [e.puzzle for e in load_examples(path)[:limit]]
    seen, settle = [], sudoku.SudokuLattice.settle

    def record(self, cand, locked=False):
        seen.append(cand.clone())
        return settle(self, cand, locked)

    sudoku.SudokuLattice.settle = record
    try:
        engines.create("ldt", "sudoku", seed=0, options={"propagate": rules}).solve_batch(puzzles)
    finally:
        sudoku.SudokuLattice.settle = settle
    return seen


BUCKETS = (1, 4, 7, 16, 32, 64, 128, 10 ** 9)


def main(argv: list[str]) -> None:
    rules = argv[argv.index("--rules") + 1] if "--rules" in argv else DEFAULT_RULES["sudoku"]
    argv = [a for i, a in enumerate(argv) if a != "--rules" and (i == 0 or argv[i - 1] != "--rules")]
    path, limit = argv[0], int(argv[1]) if len(argv) > 1 else 64
    batches, locked = visited_batches(path, limit, rules), rules == "locked"
    lattice = sudoku.SudokuLattice(9)
    closures = {"matrix": lambda c: lattice.settle_matrix(c, locked),
                "unit propagation": sudoku.unit_propagation(9, locked).settle,
                "bitmask": sudoku.bitmask_closure(9, locked).settle}
    spent = {(name, b): 0.0 for name in closures for b in BUCKETS}
    calls = dict.fromkeys(BUCKETS, 0)
    for cand in batches:
        bucket = next(b for b in BUCKETS if len(cand) <= b)
        calls[bucket] += 1
        out = {}
        for name, settle in closures.items():
            t0 = time.perf_counter()
            out[name] = settle(cand)
            spent[name, bucket] += time.perf_counter() - t0
        want, want_bottom = out["matrix"]
        for got, got_bottom in out.values():
            if not (torch.equal(got_bottom, want_bottom) and torch.equal(got[~got_bottom], want[~want_bottom])):
                raise SystemExit("the closures disagree")
    rows = sum(len(c) for c in batches)
    print(f"{path} (first {limit} puzzles, engine defaults, rules {rules}): {len(batches)} closure calls, {rows} states, "
          f"torch threads {torch.get_num_threads()}; all three agree")
    print(f"{'rows per call':<14} {'calls':>6}" + "".join(f" {name + ' ms/call':>24}" for name in closures))
    low = 1
    for b in BUCKETS:
        if calls[b]:
            label = f"{low}-{b}" if b < 10 ** 9 else f"{low}+"
            print(f"{label:<14} {calls[b]:6d}" + "".join(f" {1e3 * spent[n, b] / calls[b]:24.3f}" for n in closures))
        low = b + 1
    total = {n: sum(spent[n, b] for b in BUCKETS) for n in closures}
    print("total s: " + ", ".join(f"{n} {t:.2f}" for n, t in total.items()))
    start = sudoku.BITMASK_FROM[9]
    chosen = sum(spent["bitmask" if b >= start else "unit propagation", b] for b in BUCKETS)
    print(f"as the CPU picks (bitmask from {start} rows): {chosen:.2f} s, "
          f"{total['matrix'] / chosen:.2f}x faster than the matrix closure")


if __name__ == "__main__":
    main(sys.argv[1:])
