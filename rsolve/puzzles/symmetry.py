"""Validity-preserving symmetries, as index permutations (for augmentation and
for running a network under a random view of the same puzzle).

A symmetry maps cell i of the original to cell `cells[i]` of the view and value
v (1-based) to `values[v - 1]`. Sudoku: band/stack permutations, row/column
permutations inside them, transpose (square boxes only), value relabelling.
Mazes: the 8 symmetries of the square (square grids) or the 4 of a rectangle
(their geometry lives in grid.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .grid import grid_symmetries
from .sudoku import box_shape


@dataclass(frozen=True)
class Symmetry:
    cells: tuple[int, ...]  # original cell -> view cell
    values: tuple[int, ...]  # original value v -> view value values[v - 1] (identity for mazes)

    def inverse_cells(self) -> list[int]:
        inv = [0] * len(self.cells)
        for i, j in enumerate(self.cells):
            inv[j] = i
        return inv


def _grouped_perm(rng: random.Random, groups: int, size: int) -> list[int]:
    """A permutation of groups*size lines that moves whole groups and lines within a group."""
    order = rng.sample(range(groups), groups)
    return [g * size + i for g in order for i in rng.sample(range(size), size)]


def sudoku_symmetry(side: int, rng: random.Random) -> Symmetry:
    br, bc = box_shape(side)
    rows = _grouped_perm(rng, side // br, br)  # view row r takes original row rows[r]
    cols = _grouped_perm(rng, side // bc, bc)
    transpose = br == bc and rng.random() < 0.5
    cells = [0] * (side * side)
    for r in range(side):
        for c in range(side):
            orig = rows[r] * side + cols[c]
            cells[orig] = c * side + r if transpose else r * side + c
    values = tuple(rng.sample(range(1, side + 1), side))
    return Symmetry(tuple(cells), values)


def maze_symmetry(height: int, width: int, rng: random.Random) -> Symmetry:
    """One of the dihedral symmetries that keep the grid's shape (grid.grid_symmetries)."""
    views = grid_symmetries(height, width)
    return Symmetry(views[rng.randrange(len(views))], (1, 2))


def identity(n_cells: int, n_values: int) -> Symmetry:
    return Symmetry(tuple(range(n_cells)), tuple(range(1, n_values + 1)))


@dataclass(frozen=True)
class TokenView:
    """A symmetry applied to a network's token row, and undone on its predictions (to
    run a network on a random view of a puzzle: the answer maps back exactly)."""

    cells: tuple[int, ...]  # token position -> view position
    tokens: tuple[int, ...]  # token id -> view token id
    back_values: tuple[int, ...]  # a prediction in the view -> the original's

    def show(self, row: list[int]) -> list[int]:
        out = [0] * len(row)
        for i, t in enumerate(row):
            out[self.cells[i]] = self.tokens[t]
        return out

    def back(self, pred: list[int]) -> list[int]:
        return [self.back_values[pred[j]] for j in self.cells]


def sudoku_token_view(side: int, rng: random.Random) -> TokenView:
    """Sudoku rows hold pad 0, blank 1 and value v as v + 1; predictions are values 1..side."""
    sym = sudoku_symmetry(side, rng)
    back = [0] * (side + 1)
    for v, w in enumerate(sym.values, start=1):
        back[w] = v
    return TokenView(sym.cells, (0, 1, *(w + 1 for w in sym.values)), tuple(back))


def grid_token_view(side: int, vocab: int, rng: random.Random) -> TokenView:
    """A maze's square token grid under one of its 8 symmetries; tokens are cell kinds and
    stay as they are (a smaller maze walled in at a corner moves to another corner)."""
    views = grid_symmetries(side, side)
    same = tuple(range(vocab))
    return TokenView(views[rng.randrange(len(views))], same, same)
