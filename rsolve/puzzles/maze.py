"""Rectangular grid mazes: `#` wall, `.` (or space) open, `S` start, `G` goal, `o` path.

A maze is stored row-major as one string over "#.SGo". The puzzle is the maze with
its path cells cleared; a solution is the same grid with the path marked `o`.
HRM/TRM token ids (rsolve.puzzles.grid: 1 wall, 2 open, 3 S, 4 G, 5 path) convert both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from .grid import MAZE_TOKEN_CHARS, maze_chars, maze_tokens, neighbours, ordered_path, shortest_path
from .sudoku import PuzzleError

WALL, OPEN, START, GOAL, PATH_CHAR = MAZE_TOKEN_CHARS[1:]  # "#.SGo", in token order
ALPHABET = frozenset(MAZE_TOKEN_CHARS[1:] + " ")  # a space reads as open


@dataclass(frozen=True)
class Maze:
    height: int
    width: int
    grid: str  # height*width characters over "#.SGo"

    kind = "maze"

    @classmethod
    def from_rows(cls, rows: list[str]) -> "Maze":
        """Parse rows of text, checking shape and that there is one S and one G."""
        if not rows:
            raise PuzzleError("empty maze")
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                raise PuzzleError(f"ragged maze: row {i + 1} has {len(row)} cells, row 1 has {width}")
            bad = set(row) - ALPHABET
            if bad:
                raise PuzzleError(f"bad maze character {sorted(bad)[0]!r} in row {i + 1}")
        grid = "".join(rows).replace(" ", OPEN)
        maze = cls(len(rows), width, grid)
        for mark, name in ((START, "start S"), (GOAL, "goal G")):
            count = grid.count(mark)
            if count != 1:
                raise PuzzleError(f"maze has {'no' if count == 0 else count} {name}"
                                  + (" (needs exactly one)" if count else ""))
        return maze

    @classmethod
    def from_tokens(cls, tokens, width: int) -> "Maze":
        """Build from HRM token ids (a flat sequence); raises PuzzleError on unknown ids."""
        text = maze_chars(tokens)
        if len(text) % width:
            raise PuzzleError(f"{len(text)} tokens do not fill rows of {width}")
        return cls.from_rows([text[i:i + width] for i in range(0, len(text), width)])

    def tokens(self) -> list[int]:
        return maze_tokens(self.grid)

    @property
    def start(self) -> int:
        return self.grid.index(START)

    @property
    def goal(self) -> int:
        return self.grid.index(GOAL)

    def rows(self) -> list[str]:
        return [self.grid[i:i + self.width] for i in range(0, len(self.grid), self.width)]

    def to_string(self) -> str:
        return "\n".join(self.rows())

    def puzzle(self) -> "Maze":
        """The maze with any marked path cleared."""
        return Maze(self.height, self.width, self.grid.replace(PATH_CHAR, OPEN))

    def path_cells(self) -> frozenset[int]:
        return frozenset(i for i, ch in enumerate(self.grid) if ch == PATH_CHAR)

    def with_path(self, cells) -> "Maze":
        g = list(self.puzzle().grid)
        for i in cells:
            if g[i] == OPEN:
                g[i] = PATH_CHAR
        return Maze(self.height, self.width, "".join(g))

    def neighbours(self, i: int) -> tuple[int, ...]:
        return neighbours(i, self.height, self.width)

    def ordered_path(self) -> list[int]:
        """The marked path's cells in order from S to G, both included; ValueError
        unless the `o` cells walk as one chain from S to G."""
        marked = [ch in (PATH_CHAR, GOAL) for ch in self.grid]
        return ordered_path(marked, self.start, self.goal, self.height, self.width)

    def __str__(self) -> str:
        return self.to_string()


def bfs_path(maze: Maze) -> list[int] | None:
    """Cells strictly between S and G on one shortest path, or None if G is unreachable."""
    path = shortest_path([ch != WALL for ch in maze.grid], maze.start, maze.goal, maze.height, maze.width)
    return None if path is None else path[1:-1]
