"""Reading puzzle records from text streams, with automatic kind detection.

Accepted, in one stream and mixed freely:
- Sudoku on one line (81 characters for 9x9; 16, 36, 64, 144, 256 for other
  sides), `.` or `0` blank; extra fields after `:` `,` or a tab are allowed
  (tdoku `puzzle:count:solution`, Sudoku-Extreme CSV rows), the first field
  that is a grid is the puzzle and a second one is kept as a solution.
- Sudoku as a multi-line grid, with or without `|` `-` `+` separators (.sdk).
- Mazes: consecutive rows over `#.SGo ` (space is open); a blank line or any
  other line ends the maze.
- JSON objects, one per line, with a `puzzle` field (what `rsolve solve
  --format jsonl` writes), so results can be piped back in.
- `#` comment lines (a `#` line that is not maze-like), `[...]` headers, CRLF.

Every record keeps its source position `file:line`. A malformed record becomes
a Record with `error` set; reading always goes on with the next one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from .maze import ALPHABET as MAZE_CHARS, Maze
from .sudoku import BLANKS, SYMBOLS, PuzzleError, Sudoku, supported_sides

MAX_LINE = 1 << 20  # longer lines are rejected without being held in memory
KINDS = ("sudoku", "maze")

_SIDES = supported_sides()
_ONE_LINE = {s * s: s for s in _SIDES}
_CELL_CHARS = frozenset(SYMBOLS + SYMBOLS.lower() + BLANKS)
_SEPARATOR_LINE = re.compile(r"^[\s\-+|=*]+$")
_FIELD_SPLIT = re.compile(r"[:,\t;]")
_CSV_HEADER = re.compile(r"^[A-Za-z_ ]+(,[A-Za-z_ ]+)+$")


@dataclass
class Record:
    """One input record: a parsed puzzle or the reason it could not be parsed."""

    index: int
    source: str
    puzzle: Sudoku | Maze | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)  # e.g. "solution" text given beside the puzzle

    @property
    def kind(self) -> str | None:
        return self.puzzle.kind if self.puzzle is not None else self.extra.get("kind")


def iter_lines(stream: BinaryIO, max_len: int = MAX_LINE) -> Iterator[tuple[int, str | None]]:
    """Yield (line number, text); text is None for a line longer than max_len."""
    lineno = 0
    while True:
        chunk = stream.readline(max_len + 1)
        if not chunk:
            return
        lineno += 1
        if len(chunk) > max_len and not chunk.endswith(b"\n"):
            while True:  # drop the rest of the over-long line in bounded pieces
                more = stream.readline(max_len)
                if not more or more.endswith(b"\n"):
                    break
            yield lineno, None
            continue
        yield lineno, chunk.decode("utf-8", errors="replace").rstrip("\r\n")


def _is_comment(line: str) -> bool:
    s = line.strip()
    if s.startswith("["):
        return True
    return s.startswith("#") and (s == "#" or bool(set(s) - MAZE_CHARS))


def _maze_like(line: str) -> bool:
    chars = set(line)
    return chars <= MAZE_CHARS and bool(chars & {"#", "S", "G", "o"})


def _grid_cells(line: str) -> str | None:
    """The cell characters of a Sudoku grid row (separators removed), or None."""
    cells = "".join(ch for ch in line if ch not in " \t|+")
    if cells and set(cells) <= _CELL_CHARS:
        return cells
    return None


class _Reader:
    def __init__(self, kind: str | None):
        self.kind = kind
        self.index = 0

    def make(self, source: str, puzzle=None, error=None, **extra) -> Record:
        rec = Record(self.index, source, puzzle, error, extra)
        self.index += 1
        return rec

    def parse_sudoku(self, source: str, text: str, side: int | None = None, **extra) -> Record:
        try:
            return self.make(source, Sudoku.from_string(text, side), **extra)
        except PuzzleError as exc:
            return self.make(source, error=str(exc), kind="sudoku")

    def parse_maze(self, source: str, rows: list[str]) -> Record:
        try:
            return self.make(source, Maze.from_rows(rows))
        except PuzzleError as exc:
            return self.make(source, error=str(exc), kind="maze")

    def parse_json(self, source: str, line: str) -> Record:
        try:
            obj = json.loads(line)
            text = obj["puzzle"]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self.make(source, error="JSON record without a 'puzzle' string")
        extra = {k: obj[k] for k in ("solution", "status") if obj.get(k) is not None}
        kind = obj.get("kind") or self.kind or ("maze" if "\n" in text else "sudoku")
        if kind == "maze":
            try:
                rec = self.make(source, Maze.from_rows(text.split("\n")), **extra)
            except PuzzleError as exc:
                return self.make(source, error=str(exc), kind="maze")
            return rec
        return self.parse_sudoku(source, text.strip(), **extra)

    def parse_fields(self, source: str, line: str) -> Record | None:
        """A dataset row such as tdoku `puzzle:count:solution` or a CSV line."""
        grids = [f.strip() for f in _FIELD_SPLIT.split(line)
                 if len(f.strip()) in _ONE_LINE and set(f.strip()) <= _CELL_CHARS]
        if not grids:
            return None
        extra = {"solution": grids[1]} if len(grids) > 1 else {}
        return self.parse_sudoku(source, grids[0], **extra)

    def records(self, lines: Iterable[tuple[int, str | None]], name: str) -> Iterator[Record]:
        kind = self.kind
        block: list[str] = []  # rows of a pending multi-line grid or maze
        block_kind = None
        block_start = 0
        produced = False

        def flush():
            nonlocal block, block_kind
            rows, k, block, block_kind = block, block_kind, [], None
            if not rows:
                return None
            src = f"{name}:{block_start}"
            if k == "maze":
                return self.parse_maze(src, rows)
            side = len(rows[0])
            return self.make(src, error=f"incomplete {side}x{side} Sudoku grid: {len(rows)} of {side} rows",
                             kind="sudoku")

        for lineno, line in lines:
            src = f"{name}:{lineno}"
            if line is None:
                if (rec := flush()):
                    yield rec
                yield self.make(src, error=f"line longer than {MAX_LINE} characters")
                produced = True
                continue
            if "\x00" in line or "\ufffd" in line:
                if (rec := flush()):
                    yield rec
                yield self.make(src, error="binary data, not text")
                produced = True
                continue
            stripped = line.strip()
            if not stripped:
                if (rec := flush()):
                    yield rec
                    produced = True
                continue
            if kind != "sudoku" and (block_kind == "maze" or kind == "maze" or _maze_like(line)) \
                    and set(line) <= MAZE_CHARS and not (block_kind != "maze" and _is_comment(line)):
                if block_kind != "maze":
                    if (rec := flush()):
                        yield rec
                    block_kind, block_start = "maze", lineno
                block.append(line)
                continue
            if block_kind == "maze":
                yield flush()
                produced = True
            if _is_comment(line) or (lineno == 1 and _CSV_HEADER.match(stripped)):
                continue  # comment, .sdk header, or CSV header line
            if kind == "maze":
                yield self.make(src, error="not a maze row (expected only # . S G o and spaces)", kind="maze")
                produced = True
                continue
            if stripped.startswith("{"):
                yield self.parse_json(src, stripped)
                produced = True
                continue
            if block_kind == "sudoku" and _SEPARATOR_LINE.match(stripped):
                continue
            cells = _grid_cells(stripped)
            has_separators = cells is not None and len(cells) != len(stripped)
            if cells is not None and block_kind == "sudoku":
                if len(cells) == len(block[0]):
                    block.append(cells)
                    if len(block) == len(block[0]):
                        text = "".join(block)
                        src0 = f"{name}:{block_start}"
                        block, block_kind = [], None
                        yield self.parse_sudoku(src0, text, int(len(text) ** 0.5))
                        produced = True
                    continue
                yield flush()
                produced = True
            if cells is not None and not has_separators and len(cells) in _ONE_LINE:
                side = _ONE_LINE[len(cells)]
                # 16 characters: a 4x4 puzzle, or the first row of a 16x16 grid
                if len(cells) not in _SIDES or all(ch in BLANKS or 0 < SYMBOLS.find(ch.upper()) + 1 <= side
                                                   for ch in cells):
                    yield self.parse_sudoku(src, cells, side)
                    produced = True
                    continue
            if cells is not None and len(cells) in _SIDES:
                block, block_kind, block_start = [cells], "sudoku", lineno
                continue
            if _SEPARATOR_LINE.match(stripped):
                continue
            rec = self.parse_fields(src, stripped) if cells is None else None
            if rec is None:
                rec = self.make(src, error=_describe_bad_line(stripped),
                                kind=kind or ("sudoku" if cells is not None else None))
            yield rec
            produced = True
        if (rec := flush()):
            yield rec
            produced = True
        if not produced:
            yield self.make(f"{name}:0", error="empty input: no puzzles found")


def _describe_bad_line(line: str) -> str:
    cells = _grid_cells(line)
    if cells is not None:
        sizes = ", ".join(str(n) for n in sorted(_ONE_LINE))
        return f"wrong length: {len(cells)} cells (a one-line Sudoku has {sizes})"
    bad = next((ch for ch in line if ch not in _CELL_CHARS and ch not in " \t|+-"), line[0])
    return f"unexpected character {bad!r} (not a Sudoku or maze line)"


def read_records(sources: Iterable[tuple[str, BinaryIO]], kind: str | None = None) -> Iterator[Record]:
    """Records from several (name, binary stream) sources, indexed across all of them."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    reader = _Reader(kind)
    for name, stream in sources:
        yield from reader.records(iter_lines(stream), name)


def parse_text(text: str, kind: str | None = None, name: str = "<text>") -> list[Record]:
    """Records from an in-memory string (used by the API and tests)."""
    import io

    return list(read_records([(name, io.BytesIO(text.encode("utf-8")))], kind))
