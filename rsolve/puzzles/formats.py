"""Reading puzzle records from text streams, with automatic kind detection.

Record boundaries come first, then what each record is. Blank lines separate records;
within a run of non-blank lines:
- a maze is the whole run of consecutive rows over `#.SGo ` (space is open) as soon as
  one of them has an S, `o` or `#` (a lone `#` line on top is a comment); rows of dots,
  spaces and G alone are read again as Sudoku rows;
- a Sudoku grid is side rows of side cells (4 to 16), spaces and `|` `+` allowed, with
  separator lines such as `------+------` anywhere in it (.sdk/.sdm); rows that stop
  short of side are one incomplete (invalid) record;
- every other line is one record: a one-line Sudoku (16, 36, 64, 81, 100, 144, 196, 225
  or 256 cells, `.` or `0` blank; 16 is a 4x4 unless it has separators or a value above 4), a data
  set row split by `:` `,` `;` or a tab (tdoku `puzzle:count:solution`, CSV rows; the
  first field that is a grid is the puzzle, a second one its solution), a JSON object
  with a `puzzle` field (what `rsolve solve --format jsonl` writes), or an invalid line.
`#` comment lines give no record, nor does a `[...]` or CSV header line directly above a
puzzle. Lines end at \\n, \\r\\n or a lone \\r; a UTF-8 BOM opening a line is dropped.

Every record keeps its source position `file:line`; a malformed record is a Record with
`error` set, and reading goes on with the next one. Memory stays bounded: lines are read
one at a time and at most one grid or one (capped) maze is held.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from .maze import ALPHABET as MAZE_CHARS, Maze
from .sudoku import BLANKS, SYMBOLS, PuzzleError, Sudoku, supported_sides

MAX_LINE = 1 << 20  # longer lines are rejected without being held in memory
MAX_MAZE_ROWS = 1000  # a taller maze (or one over MAX_LINE characters) is one invalid record
KINDS = ("sudoku", "maze")

_READ_SIZE = 1 << 16
_SIDES = supported_sides()
_ONE_LINE = {s * s: s for s in _SIDES}
_CELL_CHARS = frozenset(SYMBOLS + SYMBOLS.lower() + BLANKS)
_CELLS = re.compile(f"[{re.escape(''.join(sorted(_CELL_CHARS)))}]+")
_NOT_CELLS = str.maketrans("", "", " \t|+")  # spaces and separators inside a grid line
_FITS_4X4 = frozenset("1234" + BLANKS)
_MAZE_ROW = re.compile(f"[{re.escape(''.join(sorted(MAZE_CHARS)))}]+")
_BINARY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")
_SEPARATOR_LINE = re.compile(r"^[\s\-+|=*]+$")
_FIELD_SPLIT = re.compile(r"[:,\t;]")
_CSV_HEADER = re.compile(r"^[A-Za-z_ ]+(,[A-Za-z_ ]+)+$")
_SECTION_HEADER = re.compile(r"^\[[\w .:#/-]*\]$")  # .sdk `[Puzzle]`; not a JSON list
_LINE_ERRORS = {
    "long": f"line longer than {MAX_LINE} characters",
    "binary": "binary data, not text",
    "header": "not a puzzle line (a header with no puzzle under it)",
    "separator": "not a puzzle line (a separator outside a grid)",
}


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


# ---------------------------------------------------------------- lines
def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text  # a BOM, also where files were concatenated


def iter_lines(stream: BinaryIO, max_len: int = MAX_LINE) -> Iterator[tuple[int, str | None]]:
    """Yield (line number, text) for lines ending in \\n, \\r\\n or a lone \\r; text is None
    for a line longer than max_len bytes, which is skipped in bounded pieces, never held."""
    read = getattr(stream, "read1", stream.read)  # read1: what a pipe has now, so results stream
    lineno, pending, too_long, after_cr = 0, b"", False, False
    while chunk := read(_READ_SIZE):
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the \n of a \r\n split between two reads
        after_cr = chunk.endswith(b"\r")
        for piece in chunk.splitlines(keepends=True):  # bytes split only at \n, \r\n and \r
            body = piece.rstrip(b"\r\n")
            if not too_long:
                pending += body
                too_long = len(pending) > max_len
                pending = b"" if too_long else pending
            if len(body) < len(piece):
                lineno += 1
                yield lineno, None if too_long else _decode(pending)
                pending, too_long = b"", False
    if pending or too_long:
        yield lineno + 1, None if too_long else _decode(pending)


class _Lines:
    """One source's lines with look-ahead: lines read ahead can be pushed back."""

    def __init__(self, lines: Iterable[tuple[int, str | None]], name: str):
        self._lines, self._back, self.name = iter(lines), deque(), name
        self.not_maze_to = 0  # lines up to this number were read as a maze and are not one

    def peek(self) -> tuple[int, str | None] | None:
        if not self._back:
            line = next(self._lines, None)
            if line is None:
                return None
            self._back.append(line)
        return self._back[0]

    def peek_text(self) -> str | None:
        """The next line's text: "" at the end (like a blank line), None for an over-long line."""
        line = self.peek()
        return line[1] if line is not None else ""

    def take(self) -> tuple[int, str | None] | None:
        line = self.peek()
        if line is not None:
            self._back.popleft()
        return line

    def push_back(self, lines: list) -> None:
        """Return lines taken (in order) to be read again first."""
        self._back.extendleft(reversed(lines))

    def at(self, lineno: int) -> str:
        return f"{self.name}:{lineno}"


# ---------------------------------------------------------------- what one line can be
def _grid_cells(line: str) -> str | None:
    """The cell characters of a Sudoku line (spaces, `|` and `+` removed), or None."""
    cells = line.translate(_NOT_CELLS)
    return cells if _CELLS.fullmatch(cells) else None


def _row_cells(text: str | None) -> str | None:
    """The cells of a line that can be a row of a multi-line grid, or None."""
    cells = _grid_cells(text.strip()) if text else None
    return cells if cells and len(cells) in _SIDES else None


def _maze_row(text: str | None) -> bool:
    return bool(text) and _MAZE_ROW.fullmatch(text) is not None and not text.isspace()


def _damaged_row(text: str | None, width: int) -> bool:
    """A row of the maze above it with a few stray characters (`#SxG#`): it stays in the maze,
    which is then one invalid record naming the character, rather than splitting the maze."""
    if not text or len(text) != width or "#" not in text or text.lstrip().startswith(("{", "[")):
        return False
    return sum(ch not in MAZE_CHARS for ch in text) <= max(2, width // 3)


def _maze_marked(text: str) -> bool:
    """A row only a maze has: dots and spaces could be Sudoku rows, and so could G (a 16x16
    value) with them; a `#` alone is a comment."""
    return "S" in text or "o" in text or ("#" in text and text.strip() != "#")


def _is_comment(s: str) -> bool:
    return s.startswith("#") and (s == "#" or bool(set(s) - MAZE_CHARS))


def _is_one_line(cells: str, stripped: str) -> bool:
    if len(cells) not in _ONE_LINE:
        return False
    # 16 cells: a 4x4 puzzle, or the first row of a 16x16 grid (separators, or a value above 4)
    return len(cells) not in _SIDES or (cells == stripped and set(cells) <= _FITS_4X4)


def _field_grids(s: str) -> list[str]:
    """The fields of a data set row that are one-line Sudoku grids."""
    fields = (f.strip() for f in _FIELD_SPLIT.split(s)) if _FIELD_SPLIT.search(s) else ()
    return [f for f in fields if len(f) in _ONE_LINE and set(f) <= _CELL_CHARS]


def _line_class(text: str | None) -> str:
    """What a line is on its own: long, binary, blank, comment, json, header, sudoku (a
    one-line grid), row (of a multi-line grid), separator, fields (a data set row) or other."""
    if text is None:
        return "long"
    if _BINARY.search(text):
        return "binary"
    s = text.strip()
    if not s:
        return "blank"
    if _is_comment(s):
        return "comment"
    if _SECTION_HEADER.match(s) or _CSV_HEADER.match(s):
        return "header"
    if s[0] in "{[":
        return "json"
    cells = _grid_cells(s)
    if cells is None:
        return "fields" if _field_grids(s) else "separator" if _SEPARATOR_LINE.match(s) else "other"
    if _is_one_line(cells, s):
        return "sudoku"
    return "row" if len(cells) in _SIDES else "other"


def _describe_bad_line(line: str) -> str:
    cells = _grid_cells(line)
    if cells is not None:
        sizes = ", ".join(str(n) for n in sorted(_ONE_LINE))
        return f"wrong length: {len(cells)} cells (a one-line Sudoku has {sizes})"
    bad = next((ch for ch in line if ch not in _CELL_CHARS and ch not in " \t|+-"), line[0])
    return f"unexpected character {bad!r} (not a Sudoku or maze line)"


# ---------------------------------------------------------------- JSON records
def _load_json(text: str) -> tuple[dict | None, str | None]:
    """(object, None), or (None, why it is not a JSON object)."""
    try:
        obj = json.loads(text)
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    except ValueError as exc:  # e.g. an integer with too many digits
        return None, f"invalid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, f"JSON record is a {type(obj).__name__}, not an object with a 'puzzle' field"
    return obj, None


def _json_problem(obj: dict) -> str | None:
    puzzle, kind = obj.get("puzzle"), obj.get("kind")
    if puzzle is None:
        return "JSON record without a 'puzzle' string"
    if not isinstance(puzzle, str):
        return f"JSON 'puzzle' must be a string, got {type(puzzle).__name__}"
    if kind is not None and not isinstance(kind, str):
        return f"JSON 'kind' must be a string, got {type(kind).__name__}"
    if kind is not None and kind not in KINDS:
        return f"unknown kind {kind[:40]!r} (expected {' or '.join(KINDS)})"
    return None


# ---------------------------------------------------------------- the reader
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

    def parse_maze(self, source: str, rows: list[str], **extra) -> Record:
        try:
            return self.make(source, Maze.from_rows(rows), **extra)
        except PuzzleError as exc:
            return self.make(source, error=str(exc), kind="maze")

    def parse_json(self, source: str, line: str) -> Record:
        obj, error = _load_json(line)
        error = error or _json_problem(obj)
        if error:
            return self.make(source, error=error)
        text = obj["puzzle"]
        extra = {k: obj[k] for k in ("solution", "status") if obj.get(k) is not None}
        kind = obj.get("kind") or self.kind or ("maze" if "\n" in text or "S" in text else "sudoku")
        if kind == "maze":
            return self.parse_maze(source, text.split("\n"), **extra)
        return self.parse_sudoku(source, text.strip(), **extra)

    def parse_fields(self, source: str, line: str) -> Record:
        """A data set row such as tdoku `puzzle:count:solution` or a CSV line."""
        grids = _field_grids(line)
        extra = {"solution": grids[1]} if len(grids) > 1 else {}
        return self.parse_sudoku(source, grids[0], **extra)

    def records(self, lines: Iterable[tuple[int, str | None]], name: str) -> Iterator[Record]:
        """Every record of one source, in order; an empty source gives one invalid record."""
        src, produced = _Lines(lines, name), False
        while src.peek() is not None:
            rec = self._next(src)
            if rec is not None:
                produced = True
                yield rec
        if not produced:
            yield self.make(f"{name}:0", error="empty input: no puzzles found")

    def _next(self, src: _Lines) -> Record | None:
        """The record starting at the next line, or None (a blank, comment or header line)."""
        lineno, text = src.peek()
        if self.kind != "sudoku" and lineno > src.not_maze_to and _maze_row(text):
            return self._maze(src)
        what = _line_class(text)
        if what in ("row", "separator") and self.kind != "maze":
            return self._grid(src)
        src.take()
        where, s = src.at(lineno), (text or "").strip()
        if what in ("blank", "comment") or (what == "header" and _puzzle_follows(src)):
            return None
        if what == "json":
            return self.parse_json(where, s)
        if what in _LINE_ERRORS:
            return self.make(where, error=_LINE_ERRORS[what])
        if self.kind == "maze":
            return self.make(where, error="not a maze row (expected only # . S G o and spaces)", kind="maze")
        if what == "sudoku":
            cells = _grid_cells(s)
            return self.parse_sudoku(where, cells, _ONE_LINE[len(cells)])
        if what == "fields":
            return self.parse_fields(where, s)
        return self.make(where, error=_describe_bad_line(s), kind=self.kind or (_grid_cells(s) and "sudoku"))

    def _maze(self, src: _Lines) -> Record | None:
        """The whole run of maze-alphabet rows as one maze; a run without S, G, o or #
        (dots only: maybe Sudoku rows) is pushed back to be read again as something else."""
        run, size, marked = [], 0, False
        while _maze_row(text := src.peek_text()) or (marked and _damaged_row(text, len(run[0][1]))):
            if len(run) == MAX_MAZE_ROWS or size + len(text) > MAX_LINE:
                if marked or self.kind == "maze":
                    return self._too_big_maze(src, run[0][0])
                break
            run.append(src.take())
            size, marked = size + len(text), marked or _maze_marked(text)
        rows = run
        if any(len(text) > 1 for _, text in run):  # not one column wide: a lone # on top is a comment
            while rows and rows[0][1] == "#":
                rows = rows[1:]
        if (marked or self.kind == "maze") and not all(text.strip() == "#" for _, text in rows):
            return self.parse_maze(src.at(rows[0][0]), [text for _, text in rows])
        src.not_maze_to = run[-1][0]
        src.push_back(run)
        return None

    def _too_big_maze(self, src: _Lines, start: int) -> Record:
        while _maze_row(src.peek_text()):
            src.take()  # the rest of the maze, dropped as it is read
        return self.make(src.at(start), error=f"maze too large: over {MAX_MAZE_ROWS} rows or {MAX_LINE} characters",
                         kind="maze")

    def _grid(self, src: _Lines) -> Record:
        """A multi-line Sudoku grid: side rows of side cells, separator and comment lines
        anywhere in it. Rows that stop short (at a line that is not a row) are one record."""
        start = src.peek()[0]
        _skip_lines(src, ("separator",))
        first = _row_cells(src.peek_text())
        if first is None:
            return self.make(src.at(start), error=_LINE_ERRORS["separator"])
        src.take()
        rows, side = [first], len(first)
        while len(rows) < side:
            _skip_lines(src, ("separator", "comment"))
            cells = _row_cells(src.peek_text())
            if cells is None or len(cells) != side:
                return self.make(src.at(start), error=f"incomplete {side}x{side} Sudoku grid: "
                                 f"{len(rows)} of {side} rows", kind="sudoku")
            rows.append(cells)
            src.take()
        _skip_lines(src, ("separator",))  # a closing border belongs to the grid
        return self.parse_sudoku(src.at(start), "".join(rows), side)


def _skip_lines(src: _Lines, classes: tuple[str, ...]) -> None:
    while src.peek() is not None and _line_class(src.peek_text()) in classes:
        src.take()


def _puzzle_follows(src: _Lines) -> bool:
    """After a header line: does a puzzle come next (comment lines between are skipped)?"""
    while _line_class(text := src.peek_text()) == "comment" and not _maze_row(text):
        src.take()
    return _maze_row(text) or _line_class(text) in ("header", "row", "separator", "sudoku", "fields")


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
