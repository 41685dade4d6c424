"""Exact engines: `sat` for Sudoku, `bfs` for mazes. No torch, safe in worker processes."""

from __future__ import annotations

from collections import deque

from ..puzzles import Maze, Sudoku
from ..puzzles.maze import WALL
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


def bfs_path(maze: Maze) -> list[int] | None:
    """Cells strictly between S and G on one shortest path, or None if G is unreachable."""
    g, w, n = maze.grid, maze.width, len(maze.grid)
    start, goal = maze.start, maze.goal
    prev = [-1] * n
    prev[start] = start
    queue = deque([start])
    while queue:
        u = queue.popleft()
        if u == goal:
            break
        c = u % w
        for v in (u - w, u + w, u - 1 if c else -1, u + 1 if c < w - 1 else -1):
            if 0 <= v < n and prev[v] < 0 and g[v] != WALL:
                prev[v] = u
                queue.append(v)
    if prev[goal] < 0:
        return None
    path, u = [], prev[goal]
    while u != start:
        path.append(u)
        u = prev[u]
    return path[::-1]


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
