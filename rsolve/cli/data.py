"""`rsolve data` and `rsolve eval`: converting and scoring datasets (`rsolve generate`: cli/generate.py)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from .common import (check_device, engine_options, fail, say, stderr_is_terminal, stdout_is_terminal,
                     table_console)

data_app = typer.Typer(help="Import, split and inspect datasets (rsolve's JSONL format).", no_args_is_help=True)


def _write(output: str, examples, *inputs: str) -> int:
    """write_examples, refusing to write over an input and turning OS errors into one line."""
    from pathlib import Path

    from ..puzzles.dataset import DatasetError, write_examples

    target = Path(output)
    if target.is_dir():
        fail(f"{output}: is a directory; give a file name for the dataset")
    if any(Path(i).exists() and target.exists() and Path(i).resolve() == target.resolve() for i in inputs):
        fail(f"{output}: is also the input; write the dataset to another file")
    try:
        return write_examples(output, examples)
    except DatasetError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror or exc})")


def _load(path: str, fmt: Optional[str] = None):
    from ..puzzles.dataset import DatasetError, load_examples

    try:
        return load_examples(path, fmt)
    except FileNotFoundError:
        fail(f"{path}: no such file or folder")
    except DatasetError as exc:
        fail(str(exc))


@data_app.command("import")
def data_import(
    source: str = typer.Argument(..., help="tdoku list, tdoku test file, Sudoku-Extreme CSV, HRM .npy folder, "
                                 "or any puzzle file."),
    output: str = typer.Argument(..., help="The rsolve dataset (.jsonl) to write."),
    fmt: Optional[str] = typer.Option(None, "--from", help="rsolve | hrm | csv | tdoku-test | puzzles "
                                      "(default: detected)."),
    label: bool = typer.Option(False, "--label", help="Fill missing solutions with the exact solver "
                               "(only puzzles with exactly one solution get a label)."),
):
    """Convert an external puzzle set into rsolve's dataset format."""
    from ..verify.label import labelled

    examples = _load(source, fmt)
    if label:
        examples = [labelled(ex) for ex in examples]
    _write(output, examples, source)
    n_lab = sum(ex.solution is not None for ex in examples)
    say(f"rsolve: wrote {len(examples)} examples ({n_lab} with solutions) to {output}")


@data_app.command("split")
def data_split(
    dataset: str = typer.Argument(..., help="An rsolve dataset or any importable set."),
    val: float = typer.Option(0.1, "--val", min=0.0, max=1.0, help="Fraction held back for validation."),
    seed: int = typer.Option(0, "--seed"),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Output prefix (default: the input path "
                                         "without extension): writes PREFIX.train.jsonl and PREFIX.val.jsonl."),
):
    """Split a dataset into disjoint training and validation files."""
    from pathlib import Path

    from ..puzzles.dataset import split_examples

    train, valid = split_examples(_load(dataset), val, seed)
    path = Path(dataset)
    base = prefix or (dataset.rstrip("/") if path.is_dir() else str(path.with_suffix("")))
    _write(f"{base}.train.jsonl", train, dataset)
    _write(f"{base}.val.jsonl", valid, dataset)
    say(f"rsolve: {len(train)} training examples -> {base}.train.jsonl, {len(valid)} validation -> {base}.val.jsonl")


@data_app.command("easier")
def data_easier(
    source: str = typer.Argument(..., help="A Sudoku set: an rsolve dataset or any importable set."),
    output: str = typer.Argument(..., help="The rsolve dataset (.jsonl) to write."),
    fill: int = typer.Option(..., "--fill", "-k", min=0, help="Blank cells to fill from each solution "
                             "(all of them if a puzzle has fewer)."),
    seed: int = typer.Option(0, "--seed", help="Which cells (per puzzle; the same seed gives the same tier)."),
    label: bool = typer.Option(False, "--label", help="Solve puzzles without a solution with the exact "
                               "solver first (as `data import --label`)."),
):
    """Write an easier tier of a Sudoku set: each puzzle with K of its blanks given from its solution.

    The filled cells are chosen at random per puzzle (seeded by --seed and the puzzle), every
    original given is kept, and a puzzle with K blanks or fewer is filled completely.
    Each example's source becomes "<source>+fillK" and its rating is left empty.
    """
    from ..puzzles.tiers import easier_examples
    from ..verify.label import labelled

    examples = _load(source)
    if not examples:
        fail(f"{source}: no examples")
    if examples[0].kind == "maze":
        fail(f"{source}: mazes have no easier tiers (filling cells is a Sudoku notion)")
    unlabelled = sum(ex.solution is None for ex in examples)
    if unlabelled and label:
        say(f"rsolve: solving {unlabelled} unlabelled puzzles with the exact solver")
    n = _write(output, easier_examples(examples, fill, seed, labelled if label else None), source)
    added = sum(min(fill, ex.puzzle.blanks) for ex in examples)
    short = sum(ex.puzzle.blanks <= fill for ex in examples)
    say(f"rsolve: wrote {n} examples to {output}: {added} cells filled"
        + (f", {unlabelled} labelled by the exact solver" if unlabelled else "")
        + (f", {short} puzzles had {fill} blanks or fewer and were filled completely" if short else ""))


@data_app.command("info")
def data_info(dataset: str = typer.Argument(...)):
    """Count a dataset's examples, labels, clues and ratings."""
    from ..puzzles.dataset import dataset_hash, detect_format

    examples = _load(dataset)
    kinds = sorted({ex.kind for ex in examples})
    typer.echo(f"{dataset}: format {detect_format(dataset)}, {len(examples)} examples, kind {', '.join(kinds)}, "
               f"{sum(ex.solution is not None for ex in examples)} with solutions")
    ratings = [ex.rating for ex in examples if ex.rating is not None]
    if ratings:
        typer.echo(f"rating: min {min(ratings)}, mean {sum(ratings) / len(ratings):.1f}, max {max(ratings)}")
    if kinds == ["sudoku"]:
        clues = [ex.puzzle.clues for ex in examples]
        typer.echo(f"clues: min {min(clues)}, mean {sum(clues) / len(clues):.1f}, max {max(clues)}")
    typer.echo(f"sha256: {dataset_hash(dataset)}")


def eval_command(
    dataset: str = typer.Argument(..., help="An rsolve dataset, or any set `rsolve data import` reads."),
    model: str = typer.Option("auto", "--model", "-m", help="Comma-separated engine names."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", "-c", help="Checkpoint folder or name."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N examples."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | jsonl (one object per puzzle, "
                            "then one summary object per model)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (neural models)."),
    seed: int = typer.Option(0, "--seed"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for exact engines."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-O", help="Engine option KEY=VALUE; each "
                                               "model gets the options it declares."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
    sweep: Optional[list[str]] = typer.Option(None, "--sweep", metavar="KEY=V1,V2,...", help="Run each model "
                                              "once per value of one engine option (samples, steps, sigma, ...; "
                                              "one --sweep per run), with report=true where a model takes it, and "
                                              "print one table: accuracy per selection rule, pass@K, rollouts and "
                                              "seconds per puzzle, against the value (jsonl: one object per row)."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="With --sweep: also draw "
                                       "accuracy against the value as a PNG (needs matplotlib: pip install "
                                       "'rsolve\\[plot]')."),
):
    """Run engines over a labelled dataset and print solved, wrong, abstained and label-match rates.

    'wrong' counts answers the engine proposed and the verifier rejected (they are
    never reported as solved); 'label match' compares with the stored solution.
    """
    from ..api import evaluate
    from ..sweep import declared_by, run_sweep
    from .progress import Progress
    from .solve import plan_or_fail

    fmt = fmt.lower()
    if fmt not in ("table", "jsonl"):
        fail(f"unknown format {fmt!r} (choose from table, jsonl)")
    names = [m.strip().lower() for m in model.split(",") if m.strip()] or ["auto"]
    options = engine_options(option)
    config = dict(checkpoint=checkpoint, device=check_device(device), seed=seed, batch_size=batch_size)
    plan_or_fail(",".join(names), None, checkpoint, options, config["device"])
    swept = _sweep_or_fail(sweep, plot, names, options)
    examples = _load(dataset)[:limit]
    progress = Progress("evaluating", not quiet and stderr_is_terminal(), hold_output=stdout_is_terminal())
    progress.set_total(len(examples) * len(names) * (len(swept.values) if swept else 1))

    def per_puzzle(name, res, match):
        line = json.dumps({"model": name, **res.to_dict(), "label_match": match}) + "\n"
        progress.output((lambda: sys.stdout.write(line)) if fmt == "jsonl" and not swept else (lambda: None))

    try:  # one model at a time, each with the options it declares (`-m ldt,sat -O chains=4` works)
        if swept:
            rows = run_sweep(examples, names, swept, options=options, jobs=jobs, on_result=per_puzzle, **config)
        else:
            reports = [r for name in names for r in evaluate(examples, [name], jobs=jobs, on_result=per_puzzle,
                                                             options=declared_by(name, options), **config)]
    finally:
        progress.close()
    if swept:
        _print_sweep(dataset, rows, fmt, plot)
        return
    if fmt == "jsonl":
        for r in reports:
            sys.stdout.write(json.dumps({"summary": True, **r.to_dict()}) + "\n")
        return
    _print_report(dataset, len(examples), reports)


def _sweep_or_fail(sweeps: Optional[list[str]], plot: Optional[str], names: list[str], options: dict):
    """The --sweep, checked against every model (exit 2 before any puzzle is read); None without one."""
    from pathlib import Path

    from ..sweep import SweepError, check_sweep, parse_sweep, plot_available

    if plot is not None and not sweeps:
        fail("--plot draws a sweep: give --sweep KEY=V1,V2,... too")
    if not sweeps:
        return None
    if len(sweeps) > 1:
        fail(f"one --sweep per run (got {len(sweeps)})")
    if plot is not None and not plot_available():
        fail("--plot needs matplotlib, which is not installed: pip install 'rsolve[plot]'")
    if plot is not None and not Path(plot).resolve().parent.is_dir():
        fail(f"--plot {plot}: no such folder to write it in")
    try:
        swept = parse_sweep(sweeps[0])
        check_sweep(swept, names, options)
    except SweepError as exc:
        fail(str(exc))
    return swept


def _print_sweep(dataset: str, rows, fmt: str, plot: Optional[str]) -> None:
    from ..sweep import plot_sweep, sweep_table

    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row.to_dict()) + "\n")
    else:
        table_console(100).print(sweep_table(rows, dataset))
    if plot is not None:
        try:
            plot_sweep(rows, plot, dataset)
        except OSError as exc:
            fail(f"--plot {plot}: cannot write ({exc.strerror or exc})")
        say(f"rsolve: plot written to {plot}")


def _print_report(dataset: str, n: int, reports) -> None:
    """The table fits 100 columns: rates in %, then each model's mean engine stats below it."""
    from rich.table import Table

    table = Table(title=f"{dataset} ({n} puzzles; rates in % of puzzles)", title_justify="left")
    for col in ("model", "solved", "wrong", "abstained", "unsolvable", "invalid", "label match", "puzzles/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in reports:
        d = r.to_dict()
        lm = "-" if d["label_match_pct"] is None else f"{d['label_match_pct']:.2f}"
        table.add_row(r.model, f"{d['solved_pct']:.2f}", f"{d['wrong_pct']:.2f}", f"{d['abstained_pct']:.2f}",
                      f"{d['unsolvable_pct']:.2f}", f"{d['invalid_pct']:.2f}", lm, f"{r.per_second:.1f}")
    console = table_console(100)
    console.print(table)
    picks = _picks_table(reports)
    if picks is not None:
        console.print(picks)
    for r in reports:
        stats = ", ".join(f"{k} {v:.3g}" for k, v in r.mean_stats().items())
        if stats:
            console.print(f"{r.model} mean stats per puzzle: {stats}", highlight=False)


PICK_RULES = ("pass", "q", "vote", "converge", "prm", "verify")


def _picks_table(reports):
    """Per selection rule, % of puzzles whose pick passes the verifier (engines that report it)."""
    from rich.table import Table

    rows = [(r, r.picks_pct()) for r in reports if r.picks_pct()]
    if not rows:
        return None
    table = Table(title="% of puzzles whose pick the verifier accepts, per selection rule (K rollouts "
                  "per puzzle; pass: any rollout at any step)", title_justify="left")
    reported = {rule for _, pct in rows for rule in pct}  # gram has prm, ptrm converge
    rules = [rule for rule in PICK_RULES if rule in reported] + sorted(reported - set(PICK_RULES))
    for col in ("model", "K", "s/puzzle", *(f"{rule}@K" for rule in rules)):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r, pct in rows:
        per = r.seconds / r.total if r.total else 0.0
        table.add_row(r.model, f"{r.mean_stats().get('rollouts', 0):.3g}", f"{per:.2f}",
                      *(f"{pct[rule]:.2f}" if rule in pct else "-" for rule in rules))
    return table


def register(app: typer.Typer) -> None:
    from .generate import generate_app  # imports _write from here: loaded once this module is

    app.add_typer(generate_app, name="generate")
    app.add_typer(data_app, name="data")
    app.command("eval")(eval_command)
