"""`rsolve solve` and `rsolve verify`."""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from typing import List, Optional

import typer

from .common import (check_device, fail, open_sources, parse_options, say, stderr_is_terminal,
                     stdout_is_terminal)

KIND_HELP = "Force the puzzle kind (sudoku or maze) instead of detecting it per record."


def _progress(enabled: bool):
    """A Rich progress display on stderr (a no-op context when disabled)."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    console=Console(file=sys.stderr), transient=True)


def solve_command(
    inputs: Optional[List[str]] = typer.Argument(None, metavar="[INPUT]...",
                                                 help="Puzzle files; '-' or nothing (piped) reads stdin."),
    model: str = typer.Option("auto", "--model", "-m", help="Engine name (see `rsolve models`); 'auto' "
                              "picks the default engine for each puzzle's kind."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", "-c", help="Checkpoint folder for a neural model."),
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
                                               "(repeatable)."),
    propagate: Optional[str] = typer.Option(None, "--propagate", help="LDT: sound rules after each "
                                            "projection: auto (singles for Sudoku, dead-ends for mazes) | none."),
    search: Optional[str] = typer.Option(None, "--search", help="LDT: backtrack (default) | restart."),
    chains: Optional[int] = typer.Option(None, "--chains", min=1, help="LDT: parallel chains per puzzle."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="LDT: round budget per puzzle."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                              help="LDT: keep-probability under which a candidate is dropped."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="TRM/HRM: supervision steps at most "
                                        "(default: the checkpoint's training setting)."),
    halt: Optional[str] = typer.Option(None, "--halt", help="TRM/HRM: max (run every step, as the papers "
                                       "evaluate) | q (stop when the Q head says halt) | verify (stop at the "
                                       "first verified answer)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, messages or summary on stderr."),
):
    """Solve puzzles and print one verified result per input record.

    Input: one Sudoku per line (81 characters for 9x9; 4x4, 6x6 and 16x16 too),
    multi-line grids, .sdk/.sdm files, mazes (# wall, . open, S start, G goal)
    separated by blank lines, or JSONL from `rsolve solve --format jsonl`.
    Every answer passes the symbolic verifier before it is printed.

    Exit status: 0 all solved, 1 some not solved, 2 usage error or invalid input.
    """
    from ..api import solve_sources
    from ..output import FORMATS, Writer
    from ..pipeline import SolveConfig

    fmt = fmt or ("grid" if stdout_is_terminal() else "text")
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if kind is not None and kind not in ("sudoku", "maze"):
        fail(f"unknown kind {kind!r} (choose from sudoku, maze)")
    config = SolveConfig(model=model, checkpoint=checkpoint, device=check_device(device), seed=seed,
                         batch_size=batch_size, check_unique=check_unique,
                         options={**parse_options(option), **{k: v for k, v in dict(
                             propagate=propagate, search=search, chains=chains, rounds=rounds,
                             threshold=threshold, steps=steps, halt=halt).items() if v is not None}})
    _check_model(config, kind)
    jobs = jobs or os.cpu_count() or 1
    counts = dict.fromkeys(("solved", "abstained", "unsolvable", "invalid"), 0)
    writer = Writer(fmt, sys.stdout)
    repeats: dict = {}
    t0 = time.perf_counter()
    with ExitStack() as stack:
        sources = open_sources(inputs, stack)
        progress = _progress(not quiet and stderr_is_terminal())
        task = None
        if progress:
            stack.enter_context(progress)
            task = progress.add_task("solving", total=None, rate="")
        for res in solve_sources(sources, config, kind, jobs):
            counts[res.status] += 1
            writer.write(res)
            if res.status == "invalid" and not quiet:
                repeats[res.error] = repeats.get(res.error, 0) + 1
                if repeats[res.error] == 1:  # an engine or checkpoint error is said once, not per record
                    msg = f"rsolve: {res.source}: invalid: {res.error}"
                    progress.console.print(msg, markup=False, highlight=False) if progress else say(msg)
            if progress:
                n = sum(counts.values())
                progress.update(task, completed=n, rate=f"{n / (time.perf_counter() - t0):.0f}/s")
        writer.flush()
    total = sum(counts.values())
    for error, n in repeats.items():
        if n > 1:
            say(f"rsolve: ({n - 1} more records invalid for the same reason: {error})", quiet)
    say(f"rsolve: {total} records: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        + f" in {time.perf_counter() - t0:.2f} s", quiet)
    if counts["invalid"]:
        raise typer.Exit(2)
    if counts["solved"] != total:
        raise typer.Exit(1)


def _check_model(config, kind: str | None) -> None:
    """Fail early (exit 2) on an unknown model, a model for the wrong kind or a bad checkpoint."""
    from .. import engines
    from ..checkpoints import CheckpointError, validate

    try:
        if config.model != "auto":
            spec = engines.spec(config.model)
            if kind is not None:
                engines.resolve_name(config.model, kind)
            if config.checkpoint is not None:
                if not spec.neural:
                    fail(f"model {config.model!r} is exact and takes no checkpoint")
                ckpt = validate(config.checkpoint, engine=spec.weights or config.model)
                from ..engines.neural import check_weights

                check_weights(ckpt, spec.weights or config.model)  # shapes fit, before any puzzle runs
                if kind is not None and ckpt.kind != kind:
                    fail(f"{config.checkpoint}: checkpoint is for {ckpt.kind} puzzles, not {kind}")
            engines.check_options(config.model, config.options)
        elif config.checkpoint is not None:
            fail("--checkpoint needs --model")
        elif config.options:
            engines.check_options("ldt", config.options)
    except (engines.EngineError, CheckpointError) as exc:
        fail(str(exc))


def verify_command(
    inputs: Optional[List[str]] = typer.Argument(None, metavar="[INPUT]...",
                                                 help="Files of puzzle/answer pairs; '-' reads stdin."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help=KIND_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text | jsonl"),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="TRM/HRM: supervision steps at most "
                                        "(default: the checkpoint's training setting)."),
    halt: Optional[str] = typer.Option(None, "--halt", help="TRM/HRM: max (run every step, as the papers "
                                       "evaluate) | q (stop when the Q head says halt) | verify (stop at the "
                                       "first verified answer)."),
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

    if fmt not in ("text", "jsonl"):
        fail(f"unknown format {fmt!r} (choose from text, jsonl)")
    if kind is not None and kind not in ("sudoku", "maze"):
        fail(f"unknown kind {kind!r} (choose from sudoku, maze)")
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
