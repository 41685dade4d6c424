"""`rsolve solve` and `rsolve verify`."""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import List, Optional

import typer

from .common import check_device, engine_options, fail, open_sources, say, stderr_is_terminal, stdout_is_terminal
from .engine_flags import with_engine_flags
from .progress import Progress, count_in_background

KIND_HELP = "Force the puzzle kind (sudoku or maze) instead of detecting it per record."
KINDS = ("sudoku", "maze")


def check_kind(kind: str | None) -> str | None:
    if kind is not None and kind.lower() not in KINDS:
        fail(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    return kind.lower() if kind else None


def plan_or_fail(model: str, kind: str | None, checkpoint: str | None, options: dict, device: str) -> dict:
    """engines.plan, with its one-line reasons turned into exit 2 (before any record is read)."""
    from .. import engines
    from ..checkpoints import CheckpointError
    from ..devices import DeviceError

    try:
        return engines.plan(model, kind, checkpoint, options, device)
    except (engines.EngineError, CheckpointError, DeviceError) as exc:
        fail(str(exc))


@with_engine_flags
def solve_command(
    inputs: Optional[List[str]] = typer.Argument(None, metavar="[INPUT]...",
                                                 help="Puzzle files; '-' or nothing (piped) reads stdin."),
    model: str = typer.Option("auto", "--model", "-m", help="Engine name (see `rsolve models`); 'auto' "
                              "picks the default engine for each puzzle's kind."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", "-c", help="Checkpoint folder or name (see "
                                             "`rsolve models`) for a neural model."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help=KIND_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="text | grid | jsonl (default: grid on a "
                                      "terminal, text when piped)."),
    check_unique: bool = typer.Option(False, "--check-unique", help="Also prove whether each answer is unique."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (neural models)."),
    seed: int = typer.Option(0, "--seed", help="Random seed for stochastic engines."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Puzzles per engine batch."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes for exact engines "
                             "(0: one per core)."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-O", help="Engine option KEY=VALUE "
                                               "(repeatable; see `rsolve models --options`)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, messages or summary on stderr."),
    engine_flags: dict = None,
):
    """Solve puzzles and print one verified result per input record.

    Input: one Sudoku per line (81 characters for 9x9; 4x4, 6x6 and 16x16 too),
    multi-line grids, .sdk/.sdm files, mazes (# wall, . open, S start, G goal)
    separated by blank lines, or JSONL from `rsolve solve --format jsonl`.
    Every answer passes the symbolic verifier before it is printed.

    Exit status: 0 all solved, 1 some not solved, 2 usage error or invalid input,
    130 interrupted.
    """
    from ..output import FORMATS
    from ..pipeline import SolveConfig

    fmt = (fmt or ("grid" if stdout_is_terminal() else "text")).lower()
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    kind = check_kind(kind)
    options = engine_options(option, engine_flags)
    config = SolveConfig(model=model.strip().lower(), checkpoint=checkpoint, device=check_device(device), seed=seed,
                         batch_size=batch_size, check_unique=check_unique, options=options)
    plan_or_fail(config.model, kind, checkpoint, options, config.device)
    counts = _solve_stream(inputs, config, kind, fmt, jobs or os.cpu_count() or 1, quiet)
    if counts["invalid"]:
        raise typer.Exit(2)
    if counts["solved"] != sum(counts.values()):
        raise typer.Exit(1)


def _solve_stream(inputs, config, kind, fmt, jobs, quiet) -> dict:
    """Solve every record, writing results as they come; returns the status counts."""
    from ..api import solve_sources
    from ..output import Writer

    counts = dict.fromkeys(("solved", "abstained", "unsolvable", "invalid"), 0)
    repeats: dict = {}
    writer, t0 = Writer(fmt, sys.stdout), time.perf_counter()
    progress = Progress("solving", not quiet and stderr_is_terminal(), hold_output=stdout_is_terminal())
    with ExitStack() as stack:
        sources = open_sources(inputs, stack)
        count_in_background(progress, lambda: _count_records(inputs, kind))
        stack.callback(progress.close)  # results held for the terminal are written even on Ctrl-C
        for res in solve_sources(sources, config, kind, jobs):
            counts[res.status] += 1
            progress.output(lambda res=res: writer.write(res))
            if res.status == "invalid" and not quiet:
                repeats[res.error] = repeats.get(res.error, 0) + 1
                if repeats[res.error] == 1:  # an engine or checkpoint error is said once, not per record
                    progress.say(f"rsolve: {res.source}: invalid: {res.error}")
        writer.flush()
    for error, n in repeats.items():
        if n > 1:
            say(f"rsolve: ({n - 1} more {_records(n - 1)} invalid for the same reason: {error})", quiet)
    total = sum(counts.values())
    say(f"rsolve: {total} {_records(total)}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        + f" in {time.perf_counter() - t0:.2f} s", quiet)
    return counts


def _records(n: int) -> str:
    return "record" if n == 1 else "records"


def _count_records(inputs, kind) -> int | None:
    """How many records the inputs hold, when they are all regular files (else unknown)."""
    from ..puzzles import read_records

    paths = [Path(p) for p in inputs or []]
    if not paths or not all(p.is_file() for p in paths if str(p) != "-") or "-" in map(str, paths):
        return None
    with ExitStack() as stack:
        return sum(1 for _ in read_records([(str(p), stack.enter_context(open(p, "rb"))) for p in paths], kind))


def verify_command(
    inputs: Optional[List[str]] = typer.Argument(None, metavar="[INPUT]...",
                                                 help="Files of puzzle/answer pairs; '-' reads stdin."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help=KIND_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text | jsonl"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary on stderr."),
):
    """Re-check answers with the symbolic verifiers.

    Reads JSONL written by `rsolve solve --format jsonl` (so `rsolve solve ... -f jsonl |
    rsolve verify -` works), Sudoku `puzzle:solution` or `puzzle,solution` lines,
    complete grids, and mazes with the path marked `o`. A maze answer is valid when
    its path is a simple chain from S to G; optimal when it is also a shortest one.

    Exit status: 0 every answer valid (and optimal), 1 some answer wrong or missing,
    2 usage error or malformed record.
    """
    import json

    from ..api import check_records
    from ..puzzles import read_records

    fmt = fmt.lower()
    if fmt not in ("text", "jsonl"):
        fail(f"unknown format {fmt!r} (choose from text, jsonl)")
    kind = check_kind(kind)
    bad = missing = malformed = total = 0
    with ExitStack() as stack:
        for c in check_records(read_records(open_sources(inputs, stack), kind)):
            total += 1
            good = c.valid and c.optimal is not False
            malformed += c.malformed
            missing += c.valid is None and not c.malformed
            bad += c.valid is False or bool(c.valid and c.optimal is False)
            if fmt == "jsonl":
                sys.stdout.write(json.dumps(c.to_dict()) + "\n")
            else:
                word = ("ok" if good else "MALFORMED" if c.malformed else "NONE" if c.valid is None
                        else "NONOPTIMAL" if c.valid else "WRONG")
                sys.stdout.write(f"{word}\t{c.source}" + (f"\t{c.reason}" if c.reason and not good else "") + "\n")
    say(f"rsolve: {total} checked: {total - bad - missing - malformed} ok, {bad} wrong or not optimal, "
        f"{missing} without an answer, {malformed} malformed", quiet)
    if malformed:
        raise typer.Exit(2)
    if bad or missing:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("solve")(solve_command)
    app.command("verify")(verify_command)
