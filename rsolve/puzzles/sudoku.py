"""Sudoku of any rectangular box shape: the grid type, its units and symbols.

A grid of side n has boxes of box_rows x box_cols cells (n = box_rows * box_cols).
Values are 1..n, stored as ints; 0 is a blank. Text uses 1-9 then A-G, so sides
up to 16 are supported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

SYMBOLS = "123456789ABCDEFG"
BLANKS = ".0"
MAX_SIDE = len(SYMBOLS)


class PuzzleError(ValueError):
    """A record that is not a well-formed puzzle; the message says why."""


@lru_cache(maxsize=None)
def box_shape(side: int) -> tuple[int, int]:
    """Box rows and columns for a side: the most square factorisation, rows <= cols."""
    rows = max((d for d in range(1, math.isqrt(side) + 1) if side % d == 0), default=1)
    if rows == 1 or side > MAX_SIDE:
        raise PuzzleError(f"no Sudoku box shape for side {side}")
    return rows, side // rows


def supported_sides() -> list[int]:
    sides = []
    for n in range(4, MAX_SIDE + 1):
        try:
            box_shape(n)
            sides.append(n)
        except PuzzleError:
            pass
    return sides


@dataclass(frozen=True)
class Geometry:
    """Cells, units and peers of one Sudoku shape, computed once per shape."""

    side: int
    box_rows: int
    box_cols: int
    units: tuple[tuple[int, ...], ...]  # rows, then columns, then boxes
    peers: tuple[tuple[int, ...], ...]

    @property
    def cells(self) -> int:
        return self.side * self.side

    def unit_name(self, u: int) -> str:
        kind, idx = divmod(u, self.side)
        return f"{('row', 'column', 'box')[kind]} {idx + 1}"


@lru_cache(maxsize=None)
def unit_getters(side: int) -> tuple:
    """itemgetters that pull each unit's values out of a cell tuple in one C call."""
    from operator import itemgetter

    return tuple(itemgetter(*unit) for unit in geometry(side).units)


@lru_cache(maxsize=None)
def _decode_table(side: int) -> bytes:
    """bytes.translate table: character -> value (0 blank), 255 for anything else."""
    table = bytearray([255]) * 256
    for ch in BLANKS:
        table[ord(ch)] = 0
    for v, ch in enumerate(SYMBOLS[:side], start=1):
        table[ord(ch)] = table[ord(ch.lower())] = v
    return bytes(table)


_ENCODE = bytes.maketrans(bytes(range(len(SYMBOLS) + 1)), ("." + SYMBOLS).encode())


@lru_cache(maxsize=None)
def geometry(side: int) -> Geometry:
    br, bc = box_shape(side)
    rows = [tuple(r * side + c for c in range(side)) for r in range(side)]
    cols = [tuple(r * side + c for r in range(side)) for c in range(side)]
    boxes = []
    for b in range(side):
        r0, c0 = (b // (side // bc)) * br, (b % (side // bc)) * bc
        boxes.append(tuple((r0 + i) * side + c0 + j for i in range(br) for j in range(bc)))
    units = tuple(rows + cols + boxes)
    peer_sets: list[set[int]] = [set() for _ in range(side * side)]
    for unit in units:
        for cell in unit:
            peer_sets[cell].update(unit)
    peers = tuple(tuple(sorted(s - {i})) for i, s in enumerate(peer_sets))
    return Geometry(side, br, bc, units, peers)


@dataclass(frozen=True)
class Segment:
    """Where a box meets a row or a column: the cells of the box in that line, and
    the indices (into Geometry.units) of the box and the line."""

    cells: tuple[int, ...]
    box: int
    line: int


@lru_cache(maxsize=None)
def segments(side: int) -> tuple[Segment, ...]:
    """Every box-line intersection (54 for 9x9): the places of locked candidates. A
    value a box holds only inside one segment leaves the rest of that line
    ("pointing"); a value a line holds only inside one segment leaves the rest of
    that box ("claiming")."""
    units = geometry(side).units
    out = []
    for box in range(2 * side, 3 * side):
        for line in range(2 * side):
            cells = tuple(sorted(set(units[box]) & set(units[line])))
            if cells:
                out.append(Segment(cells, box, line))
    return tuple(out)


def symbol(value: int) -> str:
    return SYMBOLS[value - 1] if value else "."


def value_of(ch: str, side: int) -> int:
    """Value of one cell character (0 for a blank); raises PuzzleError if not a cell."""
    if ch in BLANKS:
        return 0
    v = SYMBOLS.find(ch.upper()) + 1
    if v == 0 or v > side:
        raise PuzzleError(f"bad character {ch!r} for a {side}x{side} Sudoku")
    return v


@dataclass(frozen=True)
class Sudoku:
    """A Sudoku grid: `cells` holds side*side values, 0 for blank."""

    side: int
    cells: tuple[int, ...]

    kind = "sudoku"

    @property
    def geometry(self) -> Geometry:
        return geometry(self.side)

    @classmethod
    def from_string(cls, text: str, side: int | None = None) -> "Sudoku":
        """Parse the cell characters of one grid (no separators), checking the givens."""
        n = len(text)
        if side is None:
            side = math.isqrt(n)
            if side * side != n or side not in supported_sides():
                raise PuzzleError(f"{n} cells is not a supported Sudoku size "
                                  f"(81 for 9x9, or {', '.join(str(s * s) for s in supported_sides() if s != 9)})")
        elif n != side * side:
            raise PuzzleError(f"expected {side * side} cells, got {n}")
        box_shape(side)
        raw = text.encode("utf-8", errors="replace").translate(_decode_table(side))
        if len(raw) != len(text) or 255 in raw:
            for ch in text:
                value_of(ch, side)  # raises with the offending character
        grid = cls(side, tuple(raw))
        grid.check_givens()
        return grid

    def check_givens(self) -> None:
        """Raise PuzzleError naming the first unit with a repeated value."""
        for u, get in enumerate(unit_getters(self.side)):
            values = get(self.cells)
            blanks = values.count(0)
            if len(set(values)) - (blanks > 0) != len(values) - blanks:  # a repeat (blanks aside)
                dup = next(v for v in values if v and values.count(v) > 1)
                raise PuzzleError(f"duplicate {symbol(dup)} in {self.geometry.unit_name(u)}")

    def to_string(self) -> str:
        return bytes(self.cells).translate(_ENCODE).decode()

    def rows(self) -> list[str]:
        s = self.to_string()
        return [s[i:i + self.side] for i in range(0, len(s), self.side)]

    @property
    def blanks(self) -> int:
        return self.cells.count(0)

    @property
    def clues(self) -> int:
        return len(self.cells) - self.blanks

    def is_complete(self) -> bool:
        return 0 not in self.cells

    def with_cells(self, cells) -> "Sudoku":
        return Sudoku(self.side, cells if type(cells) is tuple else tuple(map(int, cells)))

    def __str__(self) -> str:
        return self.to_string()
