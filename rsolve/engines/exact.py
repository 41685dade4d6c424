"""Exact engines: `sat` for Sudoku, `bfs` for mazes. No torch, safe in worker processes."""

from __future__ import annotations

from ..puzzles import Maze, Sudoku
from ..puzzles.maze import bfs_path
from ..verify.sudoku import sat_for
from . import Attempt, EngineError


def _reject_options(name: str, checkpoint=None, **options) -> None:
    if checkpoint is not None:
        raise EngineError(f"model {name!r} is exact and takes no checkpoint")
    unknown = sorted(k for k, v in options.items() if k not in ("device", "seed") and v is not None)
    if unknown:
        raise EngineError(f"model {name!r} has no option {unknown[0]!r}")


class SatEngine:
    name = "sat"

    def __init__(self, kind: str = "sudoku", **options):
        _reject_options(self.name, **options)

    def solve_batch(self, puzzles: list[Sudoku]) -> list[Attempt]:
        out = []
        for p in puzzles:
            sat = sat_for(p.side)
            solution = sat.solve(p)
            if solution is None:
                out.append(Attempt(None, "unsolvable", {"solver": sat.solver_name},
                                   reason="the givens admit no solution (SAT proof)"))
            else:
                out.append(Attempt(solution, "found", {"solver": sat.solver_name}))
        return out


class BfsEngine:
    name = "bfs"

    def __init__(self, kind: str = "maze", **options):
        _reject_options(self.name, **options)

    def solve_batch(self, puzzles: list[Maze]) -> list[Attempt]:
        out = []
        for maze in puzzles:
            path = bfs_path(maze)
            if path is None:
                out.append(Attempt(None, "unsolvable", reason="no path from S to G"))
            else:
                out.append(Attempt(maze.with_path(path), "found", {"steps": len(path) + 1}))
        return out
