"""Symbolic verifiers and exact solvers (layer 2). The verifier, not a network,
decides whether an answer is reported as solved."""

from ..puzzles import Maze, Sudoku
from .maze import check_path, count_shortest_paths, shortest_distance
from .sudoku import SudokuSAT, Verdict, check_sudoku, sat_for


def check(puzzle, answer) -> Verdict:
    """Verify an answer of the same kind as the puzzle."""
    if type(answer) is not type(puzzle):
        return Verdict(False, f"answer is a {answer.kind}, puzzle is a {puzzle.kind}")
    if isinstance(puzzle, Sudoku):
        return check_sudoku(puzzle, answer)
    return check_path(puzzle, answer)


def is_unique(puzzle, solution) -> bool:
    """Whether a verified solution is the only one (for mazes: the only shortest path)."""
    if isinstance(puzzle, Sudoku):
        return sat_for(puzzle.side).is_unique(puzzle, solution)
    return count_shortest_paths(puzzle, 2) == 1


__all__ = ["Maze", "Sudoku", "SudokuSAT", "Verdict", "check", "check_path", "check_sudoku",
           "count_shortest_paths", "is_unique", "sat_for", "shortest_distance"]
