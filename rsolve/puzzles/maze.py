"""Rectangular grid mazes: `#` wall, `.` (or space) open, `S` start, `G` goal, `o` path.

A maze is stored row-major as one string over "#.SGo". The puzzle is the maze with
its path cells cleared; a solution is the same grid with the path marked `o`.
HRM/TRM token ids (1 wall, 2 open, 3 S, 4 G, 5 path) convert both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sudoku import PuzzleError

WALL, OPEN, START, GOAL, PATH = "#", ".", "S", "G", "o"
ALPHABET = frozenset("#.SGo ")
TOKEN_CHARS = "?#.SGo"  # index = HRM token id; 0 is padding


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
        try:
            text = "".join(TOKEN_CHARS[t] if 0 < t < len(TOKEN_CHARS) else "?" for t in map(int, tokens))
        except TypeError as exc:
            raise PuzzleError(f"bad maze tokens: {exc}") from None
        if "?" in text:
            raise PuzzleError("maze tokens outside 1-5")
        if len(text) % width:
            raise PuzzleError(f"{len(text)} tokens do not fill rows of {width}")
        return cls.from_rows([text[i:i + width] for i in range(0, len(text), width)])

    def tokens(self) -> list[int]:
        return [TOKEN_CHARS.index(ch) for ch in self.grid]

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
        return Maze(self.height, self.width, self.grid.replace(PATH, OPEN))

    def path_cells(self) -> frozenset[int]:
        return frozenset(i for i, ch in enumerate(self.grid) if ch == PATH)

    def with_path(self, cells) -> "Maze":
        g = list(self.puzzle().grid)
        for i in cells:
            if g[i] == OPEN:
                g[i] = PATH
        return Maze(self.height, self.width, "".join(g))

    def neighbours(self, i: int):
        r, c = divmod(i, self.width)
        if r > 0:
            yield i - self.width
        if r < self.height - 1:
            yield i + self.width
        if c > 0:
            yield i - 1
        if c < self.width - 1:
            yield i + 1

    def __str__(self) -> str:
        return self.to_string()
