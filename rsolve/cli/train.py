"""`rsolve train sudoku|maze --model NAME`: build a checkpoint folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from .common import check_device, fail, parse_options

train_app = typer.Typer(help="Train a neural engine and write a checkpoint folder.", no_args_is_help=True)

TRAINERS = {"ldt": "rsolve.train.ldt_loop:train"}


def _run(kind: str, model: str, data: str, out: Optional[str], val_data: Optional[str], val_fraction: float,
         preset: str, minutes: float, steps: int, batch: int, lr: float, seed: int, device: str, threads: int,
         resume: bool, arch: list[str] | None, init: Optional[str] = None) -> None:
    if model not in TRAINERS:
        fail(f"no trainer for model {model!r}; trainable: {', '.join(TRAINERS)}")
    for path in (data, val_data):
        if path and not Path(path).exists():
            fail(f"{path}: no such dataset")
    if init and Path(init).resolve() == Path(out or f"runs/{model}-{kind}").resolve():
        fail("--init and --out name the same folder; write the new checkpoint elsewhere")
    check_device(device)
    import importlib

    from ..puzzles.dataset import DatasetError
    from ..train.ldt import LDTTrainConfig

    module, attr = TRAINERS[model].split(":")
    train = getattr(importlib.import_module(module), attr)
    cfg = LDTTrainConfig(kind=kind, data=data, out=out or f"runs/{model}-{kind}", val_data=val_data,
                         val_fraction=val_fraction, preset=preset, minutes=minutes, max_steps=steps,
                         batch=batch, lr=lr, seed=seed, device=device, threads=threads, resume=resume, init=init,
                         command="rsolve " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                         overrides=parse_options(arch))
    try:
        path = train(cfg)
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"rsolve: checkpoint written to {path}", err=True)


def _command(kind: str):
    def command(
        data: str = typer.Option(..., "--data", "-d", help="Training dataset (rsolve JSONL or any importable format)."),
        model: str = typer.Option("ldt", "--model", "-m", help="Engine to train."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Checkpoint folder [default: runs/MODEL-KIND]."),
        val_data: Optional[str] = typer.Option(None, "--val-data", help="Validation set (else split off --data)."),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of --data held back for validation."),
        preset: str = typer.Option("cpu", "--preset", help="cpu (small, for this kind of machine) | paper."),
        minutes: float = typer.Option(100.0, "--minutes", help="Wall-time budget; the LR schedule fits it."),
        steps: int = typer.Option(0, "--steps", help="Stop after this many steps (0: time budget only)."),
        batch: int = typer.Option(64, "--batch-size", "-b"),
        lr: float = typer.Option(2e-3, "--lr"),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
        threads: int = typer.Option(0, "--threads", help="Torch CPU threads (0: torch's default)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT.run where it stopped."),
        arch: Optional[list[str]] = typer.Option(None, "--arch", help="Architecture override KEY=VALUE (repeatable)."),
        init: Optional[str] = typer.Option(None, "--init", help="Warm start from this checkpoint folder's weights."),
    ):
        _run(kind, model, data, out, val_data, val_fraction, preset, minutes, steps, batch, lr, seed, device,
             threads, resume, arch, init)

    command.__doc__ = f"Train a {kind} model; progress on stderr, metrics in OUT.run/metrics.jsonl."
    return command


train_app.command("sudoku")(_command("sudoku"))
train_app.command("maze")(_command("maze"))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
