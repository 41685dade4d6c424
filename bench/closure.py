"""The Sudoku closure, two ways, on the states an LDT search settles: the batched
matrix closure (SudokuLattice.settle_matrix, what a GPU runs) against unit
propagation by python-sat (rsolve.lattice.sudoku_units, what the CPU runs), in
the same run, on the same batches; also checks they agree.

Usage: python bench/closure.py DATASET [LIMIT]   (run it with nothing else on the machine)
"""

from __future__ import annotations

import sys
import time

import torch

from rsolve import engines
from rsolve.lattice import sudoku
from rsolve.puzzles.dataset import load_examples


def visited_batches(path: str, limit: int) -> list[torch.Tensor]:
    puzzles = [e.puzzle for e in load_examples(path)[:limit]]
    seen, settle = [], sudoku.SudokuLattice.settle_singles

    def record(self, cand):
        seen.append(cand.clone())
        return settle(self, cand)

    sudoku.SudokuLattice.settle_singles = record
    try:
        engines.create("ldt", "sudoku", seed=0).solve_batch(puzzles)
    finally:
        sudoku.SudokuLattice.settle_singles = settle
    return seen


def main(argv: list[str]) -> None:
    path, limit = argv[0], int(argv[1]) if len(argv) > 1 else 64
    batches = visited_batches(path, limit)
    lattice, units = sudoku.SudokuLattice(9), sudoku.unit_propagation(9)
    timing = {"matrix": 0.0, "unit propagation": 0.0}
    for cand in batches:
        t0 = time.perf_counter()
        want, want_bottom = lattice.settle_matrix(cand)
        t1 = time.perf_counter()
        got, got_bottom = units.settle(cand)
        t2 = time.perf_counter()
        timing["matrix"] += t1 - t0
        timing["unit propagation"] += t2 - t1
        if not (torch.equal(got_bottom, want_bottom) and torch.equal(got[~got_bottom], want[~want_bottom])):
            raise SystemExit("the two closures disagree")
    rows = sum(len(c) for c in batches)
    print(f"{path} (first {limit} puzzles): {len(batches)} closure calls, {rows} states, "
          f"{rows / len(batches):.1f} per call, torch threads {torch.get_num_threads()}; both agree")
    for name, sec in timing.items():
        print(f"{name:<18} {sec:7.2f} s  {1e6 * sec / rows:7.1f} us/state")
    print(f"unit propagation is {timing['matrix'] / timing['unit propagation']:.2f}x faster")


if __name__ == "__main__":
    main(sys.argv[1:])
