"""Easier tiers of a Sudoku set: the same puzzles with K more cells given from their solutions.

The TRM/HRM accuracy tables compare a model on a hard set and on tiers of it with k = 10, 20,
30 blanks filled in. Filling keeps every original given, copies the digits from the stored
solution (so the solution still solves the tier, and uniquely: a tier of a puzzle with one
solution has one solution too) and never touches other cells.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable, Iterable, Iterator

from .dataset import DatasetError, Example


def fill_blanks(ex: Example, k: int, seed: int = 0) -> Example:
    """`ex` with min(k, blanks) of its blank cells copied from its solution.

    The cells are chosen by random.Random seeded with `seed` and the puzzle's text, so a
    puzzle gets the same tier whatever file or position it comes from, and different seeds
    give different tiers. If k is at least the number of blanks, every blank is filled (the
    tier is then the solved grid). `source` becomes "<source>+fill<k>"; `rating` is dropped
    (the original difficulty score does not describe the easier puzzle).
    """
    if k < 0:
        raise ValueError(f"k must be 0 or more, got {k}")
    if ex.kind != "sudoku":
        raise DatasetError(f"{ex.source}: a maze has no easier tiers (filling cells is a Sudoku notion)")
    if ex.solution is None:
        raise DatasetError(f"{ex.source}: no solution to fill cells from")
    cells = list(ex.puzzle.cells)
    blanks = [i for i, v in enumerate(cells) if v == 0]
    rng = random.Random(f"{seed}:{ex.puzzle.to_string()}")
    for i in rng.sample(blanks, min(k, len(blanks))):
        cells[i] = ex.solution.cells[i]
    return replace(ex, puzzle=ex.puzzle.with_cells(cells), rating=None, source=f"{ex.source}+fill{k}")


def easier_examples(examples: Iterable[Example], k: int, seed: int = 0,
                    label: Callable[[Example], Example] | None = None) -> Iterator[Example]:
    """fill_blanks over a data set, streamed. `label` (e.g. the exact solver used by
    `rsolve data import --label`) is applied to examples without a solution first; without
    it, or if it finds no unique solution, an unlabelled example raises DatasetError."""
    for ex in examples:
        if ex.solution is None and label is not None and ex.kind == "sudoku":
            ex = label(ex)
            if ex.solution is None:
                raise DatasetError(f"{ex.source}: the exact solver found no unique solution, so there is "
                                   "no label to fill cells from")
        elif ex.solution is None and ex.kind == "sudoku":
            raise DatasetError(f"{ex.source}: no solution to fill cells from (use --label to solve "
                               "unlabelled puzzles with the exact solver)")
        yield fill_blanks(ex, k, seed)
