"""Labelled puzzle data sets: external formats, rsolve's own format, HRM token arrays.

rsolve dataset format: a `.jsonl` file (UTF-8, "\n" line ends), one JSON object per line with
the keys below (rsolve writes all five, in this order; readers skip blank lines and ignore
other keys). Problems raise DatasetError with a one-line message "file[:line]: reason".

    {"kind": "sudoku", "puzzle": "4.....8.5.3..", "solution": "417369825632..", "rating": 12, "source": "a.csv:2"}

- `kind`: "sudoku" or "maze"; every line of one file has the same kind.
- `puzzle`: a Sudoku on one line, row-major, `.` blank (`0` is read as blank too), values 1-9
  then A-G (81 characters for 9x9; 16, 36, 64, 144, 256 for sides 4, 6, 8, 12, 16); or a maze
  as its rows joined by "\n", over `#` wall, `.` open, `S` start, `G` goal (one S, one G, no `o`).
- `solution`: string or null: the solved grid, same layout. A Sudoku solution is complete,
  repeats no value in a unit and keeps the givens; a maze solution is the puzzle with its path
  cells changed from `.` to `o` and nothing else (path validity is the verifier's job).
- `rating`: a finite number or null (a difficulty score, e.g. tdoku's backtrack count).
- `source`: string, where the example came from, e.g. "train.csv:17", "all__inputs.npy#3";
  missing or null is read as "<file name>:<line>". (Other formats: see `detect_format`.)
"""

import csv
import hashlib
import json
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .formats import KINDS, iter_lines, read_records
from .grid import GOAL_TOKEN, MAZE_TOKEN_CHARS, OPEN_TOKEN, PATH_TOKEN, SUDOKU_TOKEN_CHARS, WALL_TOKEN
from .maze import PATH_CHAR, Maze
from .sudoku import PuzzleError, Sudoku

FORMATS = ("rsolve", "hrm", "csv", "tdoku-test", "puzzles")
CSV_HEADER = "source,question,answer,rating"
HRM_FILES = ("all__inputs.npy", "all__labels.npy")
_TDOKU_LINE = re.compile(r"^[0-9A-Ga-g.]{16,}:\d+(:[0-9A-Ga-g.]*)?$")


class DatasetError(ValueError):
    """A data set that cannot be read or converted; the message names file and reason."""


@dataclass
class Example:
    puzzle: Sudoku | Maze
    solution: Sudoku | Maze | None = None
    rating: float | int | None = None
    source: str = ""
    kind = property(lambda self: self.puzzle.kind, doc="'sudoku' or 'maze'")


def _rating(value, where: str):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value)):
        raise DatasetError(f"{where}: rating must be a finite number or null, got {value!r}")
    return value


def _example(puzzle_text: str, solution_text, rating, source: str, where: str, kind: str) -> Example:
    """Parse a puzzle and an optional solution, checking that the solution fits the puzzle."""
    try:
        if kind == "maze":
            puzzle = Maze.from_rows(puzzle_text.split("\n"))
            if PATH_CHAR in puzzle.grid:
                raise PuzzleError("maze puzzle has path cells 'o' (the path belongs in the solution)")
            solution = Maze.from_rows(solution_text.split("\n")) if solution_text else None
            if solution and (solution.width, solution.puzzle().grid) != (puzzle.width, puzzle.grid):
                raise PuzzleError("solution is not the puzzle plus a path")
        else:
            puzzle = Sudoku.from_string(puzzle_text.strip())
            solution = Sudoku.from_string(solution_text.strip(), puzzle.side) if solution_text else None
            if solution and not (solution.is_complete()
                                 and all(g in (0, v) for g, v in zip(puzzle.cells, solution.cells))):
                raise PuzzleError("solution has blanks or changes a given")
    except PuzzleError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    return Example(puzzle, solution, rating, source)


def example_to_json(ex: Example) -> dict:
    return {"kind": ex.kind, "puzzle": ex.puzzle.to_string(), "solution": ex.solution and ex.solution.to_string(),
            "rating": _rating(ex.rating, ex.source), "source": ex.source}


def example_from_json(obj, where: str) -> Example:
    """Parse and check one rsolve dataset object; `where` ("file:line") prefixes errors."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    kind, puzzle, solution = obj.get("kind"), obj.get("puzzle"), obj.get("solution")
    source = where if obj.get("source") is None else obj["source"]
    if kind not in KINDS:
        raise DatasetError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, value, null_ok in (("puzzle", puzzle, False), ("solution", solution, True),
                                ("source", source, False)):
        if not isinstance(value, str) and not (null_ok and value is None):
            raise DatasetError(f"{where}: '{key}' must be a string" + (" or null" if null_ok else ""))
    return _example(puzzle, solution, _rating(obj.get("rating"), where), source, where, kind)


def _hrm_files(path: Path) -> tuple[Path, Path] | None:
    """(inputs, labels) paths of an HRM folder, given the folder or one of the two files."""
    folder = path if path.is_dir() else path.parent if path.name in HRM_FILES else None
    return (folder / HRM_FILES[0], folder / HRM_FILES[1]) \
        if folder and (folder / HRM_FILES[0]).is_file() else None


def detect_format(path) -> str:
    """One of FORMATS: "hrm" for a folder holding all__inputs.npy (or either .npy file in it),
    "rsolve" for a .jsonl file; otherwise by the first line that is not blank or `#`:
    "csv" if it is the header `source,question,answer,rating`, "tdoku-test" if it reads
    `puzzle:count[:solution]`, else "puzzles" (plain puzzle files, see formats.read_records)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if _hrm_files(path):
        return "hrm"
    if path.is_dir() or path.suffix == ".npy":
        raise DatasetError(f"{path}: unknown format (not an HRM folder with all__inputs.npy)")
    if path.suffix == ".jsonl":
        return "rsolve"
    with open(path, "rb") as f:
        for _, line in iter_lines(f, 1 << 16):
            s = (line or "").lstrip("\ufeff").strip()
            if s and not s.startswith("#"):
                return "csv" if s.replace(" ", "").lower() == CSV_HEADER else \
                    "tdoku-test" if _TDOKU_LINE.match(s) else "puzzles"
    return "puzzles"


def _iter_text(path: Path, fmt: str) -> Iterator[Example]:
    """The line formats: rsolve `.jsonl`, Sudoku-Extreme CSV, tdoku `test_puzzles`."""
    header = fmt == "csv"  # still expected
    with open(path, "rb") as f:
        for lineno, line in iter_lines(f):
            where, s, source = f"{path}:{lineno}", (line or "").lstrip("\ufeff").strip(), f"{path.name}:{lineno}"
            if line is None:
                raise DatasetError(f"{where}: line too long")
            if not s or (fmt != "rsolve" and s.startswith("#")):
                continue
            if header:
                if s.replace(" ", "").lower() != CSV_HEADER:
                    raise DatasetError(f"{where}: expected the header {CSV_HEADER!r}")
                header = False
            elif fmt == "csv":
                row = [x.strip() for x in next(csv.reader([s]))]
                if len(row) != 4:
                    raise DatasetError(f"{where}: expected 4 fields (source,question,answer,rating)")
                try:
                    rating = json.loads(row[3]) if row[3] else None  # int or float
                except ValueError:
                    raise DatasetError(f"{where}: rating {row[3]!r} is not a number") from None
                yield _example(row[1], row[2], _rating(rating, where), source + (f" ({row[0]})" if row[0] else ""),
                               where, "sudoku")
            elif fmt == "tdoku-test":
                if not _TDOKU_LINE.match(s):
                    raise DatasetError(f"{where}: expected puzzle:count[:solution]")
                fields = s.split(":")  # the solution is kept only if it is the only one
                yield _example(fields[0], fields[2] if len(fields) == 3 and int(fields[1]) == 1 else None,
                               None, source, where, "sudoku")
            else:
                try:
                    obj = json.loads(s)
                except ValueError as exc:
                    raise DatasetError(f"{where}: bad JSON ({exc})") from None
                if isinstance(obj, dict) and obj.get("source") is None:
                    obj["source"] = source
                yield example_from_json(obj, where)


def _iter_puzzles(path: Path, fmt: str = "puzzles") -> Iterator[Example]:
    """Plain puzzle files: no labels, except that a maze drawn with its path is solved."""
    with open(path, "rb") as f:
        for rec in read_records([(path.name, f)]):
            if rec.error is not None:
                raise DatasetError(f"{path}:{rec.source.rsplit(':', 1)[1]}: {rec.error}")
            p, solved = rec.puzzle, isinstance(rec.puzzle, Maze) and PATH_CHAR in rec.puzzle.grid
            yield Example(p.puzzle() if solved else p, p if solved else None, None, rec.source)


def _iter_hrm(path: Path, fmt: str = "hrm") -> Iterator[Example]:
    import numpy as np

    names, arrays = _hrm_files(path), []
    if names is None:
        raise DatasetError(f"{path}: not an HRM folder (no {HRM_FILES[0]})")
    for name, top in zip(names, (GOAL_TOKEN, PATH_TOKEN)):  # inputs have no path
        try:
            a = np.load(name, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{name}: cannot load ({exc})") from None
        if a.ndim != 2 or a.shape[1] == 0 or math.isqrt(a.shape[1]) ** 2 != a.shape[1]:
            raise DatasetError(f"{name}: expected a 2-D array of square grids, got shape {a.shape}")
        if a.size and (a.dtype.kind not in "iu" or a.min() < WALL_TOKEN or a.max() > top):
            raise DatasetError(f"{name}: expected integer token ids {WALL_TOKEN}-{top}")
        arrays.append(a.astype(np.uint8))
    inputs, labels = arrays
    if inputs.shape != labels.shape:
        raise DatasetError(f"{names[1]}: shape {labels.shape} does not match the inputs' {inputs.shape}")
    bad = np.flatnonzero(((labels != inputs) & ~((inputs == OPEN_TOKEN) & (labels == PATH_TOKEN))).any(axis=1))
    if bad.size:
        raise DatasetError(f"{names[1]}: label {bad[0]} is not its input plus a path ({bad.size} such)")
    lut, width = np.frombuffer(MAZE_TOKEN_CHARS.encode(), np.uint8), math.isqrt(inputs.shape[1])
    for i in range(len(inputs)):
        try:
            p, s = (Maze.from_rows([t[j:j + width] for j in range(0, len(t), width)])
                    for t in (lut[inputs[i]].tobytes().decode(), lut[labels[i]].tobytes().decode()))
        except PuzzleError as exc:
            raise DatasetError(f"{names[0]}: row {i}: {exc}") from None
        yield Example(p, s, None, f"{names[0].name}#{i}")


_READERS = {"rsolve": _iter_text, "csv": _iter_text, "tdoku-test": _iter_text, "hrm": _iter_hrm,
            "puzzles": _iter_puzzles}


def _one_kind(path, examples: Iterable[Example]) -> Iterator[Example]:
    first = None
    for ex in examples:
        first = first or ex
        if ex.kind != first.kind:
            raise DatasetError(f"{path}: mixed kinds: {ex.source} is a {ex.kind}, {first.source} a {first.kind}")
        yield ex


def iter_examples(path, fmt: str | None = None) -> Iterator[Example]:
    """Stream the examples of a data set (format detected unless `fmt` is given)."""
    path = Path(path)
    if fmt is not None and fmt not in _READERS:
        raise DatasetError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    fmt = fmt or detect_format(path)
    return _one_kind(path, _READERS[fmt](path, fmt))


def load_examples(path, fmt: str | None = None) -> list[Example]:
    return list(iter_examples(path, fmt))


def write_examples(path, examples: Iterable[Example]) -> int:
    """Write an rsolve dataset atomically (temp file, then os.replace); returns the count."""
    tmp, count = Path(f"{path}.{os.getpid()}.tmp"), 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for count, ex in enumerate(_one_kind(path, examples), 1):
                f.write(json.dumps(example_to_json(ex), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def split_examples(examples: Iterable[Example], val_fraction: float, seed: int = 0):
    """(train, val), each in input order. val holds round(n * val_fraction) examples chosen
    by random.Random(seed), at least 1 and at most n - 1 if 0 < val_fraction < 1 and n > 1."""
    if not 0 <= val_fraction <= 1:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    examples = list(examples)
    n, order = len(examples), list(range(len(examples)))
    k = min(max(round(n * val_fraction), 1), n - 1) if 0 < val_fraction < 1 and n > 1 \
        else round(n * val_fraction)
    random.Random(seed).shuffle(order)
    val = set(order[:k])
    return [ex for i, ex in enumerate(examples) if i not in val], [examples[i] for i in sorted(val)]


def dataset_hash(path) -> str:
    """Hex sha256 of a data set file, or of an HRM folder's inputs then labels files."""
    h = hashlib.sha256()
    for p in _hrm_files(Path(path)) or (Path(path),):
        if not p.is_file():
            raise DatasetError(f"{p}: no such file")
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def to_token_arrays(examples: Iterable[Example]):
    """(inputs, labels): uint8 arrays of shape (N, cells) in HRM/TRM token ids (grid.py:
    maze 1 wall 2 open 3 S 4 G 5 path; Sudoku 1 blank, value v -> v + 1; 0 pad is unused)."""
    import numpy as np

    examples = list(examples)
    if not examples:
        raise DatasetError("no examples to convert to tokens")
    first, lut = examples[0], np.zeros(256, np.uint8)
    chars = (MAZE_TOKEN_CHARS if first.kind == "maze" else SUDOKU_TOKEN_CHARS).encode()
    lut[np.frombuffer(chars, np.uint8)] = np.arange(len(chars))
    for ex in examples:
        if ex.solution is None:
            raise DatasetError(f"{ex.source}: no solution (token labels need one)")
        if (ex.kind, len(ex.puzzle.to_string())) != (first.kind, len(first.puzzle.to_string())):
            raise DatasetError(f"{ex.source}: a {ex.kind} of another size or kind than {first.source}")
    text = "".join(ex.puzzle.to_string() + ex.solution.to_string() for ex in examples).replace("\n", "")
    both = lut[np.frombuffer(text.encode(), np.uint8).reshape(len(examples), 2, -1)]
    return np.ascontiguousarray(both[:, 0]), np.ascontiguousarray(both[:, 1])
