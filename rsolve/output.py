"""Writing results: `text` for scripts, `jsonl` for machines, `grid` for people.

text  - Sudoku: the solution on one line; an unsolved record is its puzzle, a tab
        and its status, so line N of the output is always record N.
        Maze: the grid with the path marked `o`, then a blank line; an unsolved
        maze is preceded by a `# status: reason` comment line.
        Invalid records: `# invalid: source: reason` (one line).
jsonl - one JSON object per record (see `Result.to_dict`).
grid  - a Rich rendering: givens bold, filled digits green; maze path coloured.
"""

from __future__ import annotations

import json
from typing import TextIO

from .pipeline import Result

FORMATS = ("text", "grid", "jsonl")


def _reason(r: Result) -> str:
    return r.error or r.stats.get("rejected_by_verifier") or r.stats.get("reason") or ""


def text_record(r: Result) -> str:
    if r.status == "invalid" and r.puzzle is None:
        return f"# invalid: {r.source}: {r.error}\n"
    if r.kind == "maze":
        grid = (r.solution or r.puzzle).to_string()
        where = f"{r.source}: " if r.status == "invalid" else ""
        head = "" if r.status == "solved" else f"# {r.status}: {where}{_reason(r)}\n"
        return f"{head}{grid}\n\n"
    if r.status == "solved":
        return r.solution.to_string() + "\n"
    return f"{r.puzzle.to_string()}\t{r.status}\n"


def jsonl_record(r: Result) -> str:
    return json.dumps(r.to_dict(), separators=(",", ":")) + "\n"


class Writer:
    """Writes results in one format to a text stream, flushing per record."""

    def __init__(self, fmt: str, stream: TextIO):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self.fmt, self.stream = fmt, stream
        self._console = None
        if fmt == "grid":
            from rich.console import Console

            self._console = Console(file=stream, highlight=False)

    def write(self, r: Result) -> None:
        if self.fmt == "text":
            self.stream.write(text_record(r))
        elif self.fmt == "jsonl":
            self.stream.write(jsonl_record(r))
        else:
            self._console.print(render(r))

    def flush(self) -> None:
        self.stream.flush()


_STATUS_STYLE = {"solved": "green", "abstained": "yellow", "unsolvable": "magenta", "invalid": "red"}


def render(r: Result):
    """A Rich renderable for one result."""
    from rich.console import Group
    from rich.text import Text

    head = Text(f"#{r.index + 1} {r.source}  ", style="dim")
    head.append(r.status, style=f"bold {_STATUS_STYLE.get(r.status, '')}")
    if r.engine:
        head.append(f"  {r.engine}, {r.seconds * 1000:.1f} ms", style="dim")
    if r.unique is not None:
        head.append("  unique" if r.unique else "  NOT unique", style="dim")
    reason = _reason(r)
    parts = [head]
    if reason and r.status != "solved":
        parts.append(Text(f"  {reason}", style="dim"))
    if r.puzzle is not None:
        parts.append(_render_sudoku(r) if r.kind == "sudoku" else _render_maze(r))
    return Group(*parts, Text(""))


def _render_sudoku(r: Result):
    from rich.text import Text

    p = r.puzzle
    s = r.solution or p
    geo = p.geometry
    wide = p.side > 9
    out = Text()
    sep_row = "+".join("-" * ((2 + wide) * geo.box_cols + 1) for _ in range(p.side // geo.box_cols))
    for row in range(p.side):
        if row and row % geo.box_rows == 0:
            out.append(sep_row + "\n", style="dim")
        for col in range(p.side):
            if col and col % geo.box_cols == 0:
                out.append(" |", style="dim")
            i = row * p.side + col
            ch = s.to_string()[i] if s.cells[i] else "."
            style = "bold" if p.cells[i] else ("green" if s.cells[i] else "dim")
            out.append(" " + ch.rjust(1 + wide), style=style)
        out.append("\n")
    return out


def _render_maze(r: Result):
    from rich.text import Text

    m = r.solution or r.puzzle
    styles = {"#": "grey50", ".": "", "S": "bold cyan", "G": "bold cyan", "o": "bold green"}
    glyphs = {"#": "█", ".": " ", "S": "S", "G": "G", "o": "•"}
    out = Text()
    for row in m.rows():
        for ch in row:
            out.append(glyphs[ch] * 2 if ch in "#." else glyphs[ch] + " ", style=styles[ch])
        out.append("\n")
    return out
