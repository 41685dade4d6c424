"""`rsolve generate`: unique-solution Sudoku and Maze-Hard-style mazes from the symbolic
generators, and complete Sudoku grids sampled from a GRAM generator (`--model gram`)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Optional

import typer

from .common import check_device, fail, say, stderr_is_terminal, stdout_is_terminal
from .data import _write

generate_app = typer.Typer(help="Generate puzzles (deterministic with --seed).", no_args_is_help=True)

FMT_HELP = "text (puzzles only) | jsonl (rsolve dataset: puzzle, solution, rating)"
FORMATS = ("text", "jsonl")
MODELS = ("random", "gram")
# options of one Sudoku generator only: giving one to the other is a usage error
ONLY_FOR = {"random": ("size", "min_clues", "max_clues", "min_rating", "max_rating", "max_tries"),
            "gram": ("checkpoint", "device", "steps", "all_steps", "puzzles")}


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _line(ex, fmt: str, shown=None) -> str:
    """An example as printed: its dataset record, or as text its puzzle (or the grid `shown` picks)."""
    from ..puzzles.dataset import example_to_json

    if fmt == "jsonl":
        return json.dumps(example_to_json(ex)) + "\n"
    return (shown or (lambda e: e.puzzle))(ex).to_string() + ("\n\n" if ex.kind == "maze" else "\n")


def _emit(examples, fmt: str, output: Optional[str]) -> None:
    _check_format(fmt)
    if output:
        _write(output, examples)
        return
    for ex in examples:
        sys.stdout.write(_line(ex, fmt))
        sys.stdout.flush()


def _generated(make):
    from ..generate import GenerationError

    try:
        yield from make()
    except GenerationError as exc:
        fail(str(exc))


def _refuse_foreign_options(ctx: typer.Context, model: str) -> None:
    """Exit 2 naming every option typed that belongs to the other generator."""
    flags = {p.name: max(p.opts, key=len) for p in ctx.command.params}
    other = next(m for m in MODELS if m != model)
    foreign = [flags[name] for name in ONLY_FOR[other]
               if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"]
    if foreign:
        fail(f"{', '.join(foreign)}: only for --model {other}")


@generate_app.command("sudoku")
def generate_sudoku(
    ctx: typer.Context,
    count: int = typer.Option(10, "--count", "-n", min=1),
    seed: int = typer.Option(0, "--seed"),
    model: str = typer.Option("random", "--model", "-m", help="random: the symbolic generator (unique-solution "
                              "puzzles, rated) | gram: complete grids sampled by a GRAM generator network, each "
                              "checked by the verifier (invalid ones are dropped)."),
    size: int = typer.Option(9, "--size", help="Grid side: 4, 6, 9, 16 (any side with boxes)."),
    min_clues: Optional[int] = typer.Option(None, "--min-clues"),
    max_clues: Optional[int] = typer.Option(None, "--max-clues"),
    min_rating: Optional[int] = typer.Option(None, "--min-rating", help="Backtracks of a singles+DFS solver."),
    max_rating: Optional[int] = typer.Option(None, "--max-rating"),
    max_tries: int = typer.Option(1000, "--max-tries", min=1,
                                  help="Random puzzles tried per puzzle kept (hard ratings are rare: about 1 "
                                       "in 700 rates 20 or more)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", "-c", help="gram: generator checkpoint folder "
                                             "or name (default: the installed generator)."),
    device: str = typer.Option("auto", "--device", help="gram: auto | cpu | cuda."),
    steps: int = typer.Option(16, "--steps", min=1, help="gram: supervision steps per sample at most (the "
                              "paper's 16); a sample ends at the first step whose grid the verifier accepts."),
    all_steps: bool = typer.Option(False, "--all-steps", help="gram: run every sample all --steps steps, as the "
                                   "paper does, instead of stopping it once its grid is valid."),
    puzzles: bool = typer.Option(False, "--puzzles", help="gram: dig each valid grid into a puzzle whose only "
                                 "solution it is (clues removed in a seeded random order while the SAT check "
                                 "says the solution stays unique) and print the puzzles."),
    fmt: str = typer.Option("text", "--format", "-f", help=FMT_HELP + "; gram: text prints the grids (the "
                            "puzzles with --puzzles), jsonl has the grid as solution and the blank board (or the "
                            "puzzle) as puzzle."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write an rsolve dataset file here."),
):
    """Sudoku with exactly one solution, rated by the backtracks a plain solver needs; or, with
    --model gram, complete grids from a GRAM generator (the valid share goes to stderr)."""
    model = model.lower()
    if model not in MODELS:
        fail(f"unknown model {model!r} for generate sudoku (choose from {', '.join(MODELS)})")
    _refuse_foreign_options(ctx, model)
    _check_format(fmt)
    if model == "gram":
        _sample_gram(count, seed, checkpoint, check_device(device), steps, all_steps, puzzles, fmt, output)
        return
    from ..api import generate_sudoku as gen
    from ..puzzles.dataset import Example
    from ..puzzles.sudoku import PuzzleError, box_shape

    try:
        box_shape(size)
    except PuzzleError as exc:
        fail(str(exc))
    filters = dict(side=size, min_clues=min_clues, max_clues=max_clues, min_rating=min_rating,
                   max_rating=max_rating, max_tries=max_tries)
    made = _generated(lambda: ((p, s, r) for p, s, r in gen(count, seed, **filters)))
    _emit((Example(p, s, r.rating, f"generated:seed={seed}:{i}") for i, (p, s, r) in enumerate(made)),
          fmt, output)


@dataclass
class GridTally:
    """Sampled, valid and distinct valid grids and the supervision steps, for the summary line."""

    sampled: int = 0
    valid: int = 0
    grids: set = field(default_factory=set)
    steps: int = 0

    def add(self, sample) -> None:
        self.sampled += 1
        self.steps += sample.steps
        if sample.valid:
            self.valid += 1
            self.grids.add(sample.grid.cells)

    def summary(self) -> str:
        pct = 100.0 * self.valid / self.sampled if self.sampled else 0.0
        dropped = self.sampled - self.valid
        return (f"rsolve: {self.valid} of {self.sampled} sampled grids valid ({pct:.1f}%), {len(self.grids)} "
                f"distinct" + (f"; {dropped} invalid grids dropped" if dropped else "")
                + (f"; {self.steps / self.sampled:.1f} supervision steps per grid" if self.sampled else ""))


def _sample_gram(count: int, seed: int, checkpoint: Optional[str], device: str, steps: int, all_steps: bool,
                 puzzles: bool, fmt: str, output: Optional[str]) -> None:
    from ..api import sample_sudoku_grids
    from ..engines import EngineError
    from ..puzzles import Sudoku
    from ..puzzles.dataset import Example
    from .progress import Progress

    try:
        samples = sample_sudoku_grids(count, checkpoint, seed=seed, steps=steps, device=device, puzzles=puzzles,
                                      all_steps=all_steps)
    except EngineError as exc:
        fail(str(exc))
    shown = (lambda ex: ex.puzzle) if puzzles else (lambda ex: ex.solution)
    tally = GridTally()
    progress = Progress("sampling", stderr_is_terminal(), hold_output=stdout_is_terminal() and not output)
    progress.set_total(count)

    def show(ex) -> None:
        sys.stdout.write(_line(ex, fmt, shown))
        sys.stdout.flush()

    def kept():  # every sample is counted and ticks the progress line; valid ones go on
        for s in samples:
            tally.add(s)
            ex = None
            if s.valid:
                puzzle = s.puzzle or Sudoku(s.grid.side, (0,) * len(s.grid.cells))
                ex = Example(puzzle, s.grid, None, f"generated:gram:seed={seed}:{s.index}")
            progress.output((lambda ex=ex: show(ex)) if ex is not None and not output else (lambda: None))
            if ex is not None:
                yield ex

    try:
        if output:
            _write(output, kept())
        else:
            for _ in kept():
                pass
    finally:
        progress.close()
    say(tally.summary())


@generate_app.command("maze")
def generate_maze(
    count: int = typer.Option(10, "--count", "-n", min=1),
    seed: int = typer.Option(0, "--seed"),
    size: Optional[int] = typer.Option(None, "--size", help="Square mazes of this side (sets --height and --width)."),
    height: int = typer.Option(30, "--height"),
    width: int = typer.Option(30, "--width"),
    min_path: int = typer.Option(110, "--min-path", help="Keep mazes whose shortest path has more cells."),
    wall_min: float = typer.Option(0.28, "--wall-min"),
    wall_max: float = typer.Option(0.45, "--wall-max"),
    fmt: str = typer.Option("text", "--format", "-f", help=FMT_HELP),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write an rsolve dataset file here."),
):
    """Maze-Hard-style mazes: random walls, kept when the shortest path is long."""
    from ..api import generate_maze as gen
    from ..puzzles.dataset import Example

    if size is not None:
        height = width = size

    made = _generated(lambda: gen(count, seed, height=height, width=width, min_path=min_path,
                                  wall_min=wall_min, wall_max=wall_max))
    _emit((Example(p, s, None, f"generated:seed={seed}:{i}") for i, (p, s) in enumerate(made)), fmt, output)
