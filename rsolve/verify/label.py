"""Labels from the exact solvers, for data sets without solutions (`rsolve data import
--label`, `rsolve data easier --label`). Layer 2: puzzles and verify only, no engines."""

from __future__ import annotations

from dataclasses import replace

from ..puzzles import Maze
from ..puzzles.dataset import Example
from ..puzzles.maze import bfs_path
from .sudoku import sat_for


def solve_exactly(puzzle):
    """The label of a puzzle, or None: a Sudoku's solution when it is the only one (SAT),
    a maze marked with one shortest path (BFS) when G can be reached."""
    if isinstance(puzzle, Maze):
        path = bfs_path(puzzle)
        return None if path is None else puzzle.with_path(path)
    solutions = sat_for(puzzle.side).solutions(puzzle, 2)
    return solutions[0] if len(solutions) == 1 else None


def labelled(example: Example) -> Example:
    """The example with its missing solution filled by solve_exactly (kept if it has one)."""
    if example.solution is not None:
        return example
    return replace(example, solution=solve_exactly(example.puzzle))
