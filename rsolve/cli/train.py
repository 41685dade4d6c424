"""`rsolve train sudoku|maze --model NAME`: build a checkpoint folder.

The same command runs under `torchrun --nproc_per_node N` for TRM and HRM
(DistributedDataParallel; only rank 0 logs, validates and saves)."""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from .common import check_device, fail, parse_options

train_app = typer.Typer(help="Train a neural engine and write a checkpoint folder.", no_args_is_help=True)

TRAINERS = {"ldt": "rsolve.train.ldt_loop:train",
            "trm": "rsolve.train.recursive_loop:train",
            "hrm": "rsolve.train.recursive_loop:train"}
LDT_DEFAULTS = dict(batch=64, lr=2e-3)
# options only the recursive trainers read (None: not given)
RECURSIVE_ONLY = {"precision": "--precision", "compile": "--compile", "ema": "--ema",
                  "max_steps_per_puzzle": "--max-steps-per-puzzle"}


def _config(kind: str, model: str, common: dict, extra: dict):
    """The trainer's config: each model family has its own defaults and options."""
    if model == "ldt":
        given = [RECURSIVE_ONLY[k] for k, v in extra.items() if v is not None]
        if given:
            fail(f"{', '.join(given)}: only for --model trm or hrm")
        from ..train.ldt import LDTTrainConfig

        preset = "cpu" if common["preset"] == "auto" else common["preset"]
        return LDTTrainConfig(**{**common, "preset": preset,
                                 **{k: common[k] if common[k] is not None else v for k, v in LDT_DEFAULTS.items()}})
    from ..train.recursive import config_from_cli

    return config_from_cli(model=model, **common, **extra)


def _run(kind: str, model: str, data: str, out: Optional[str], val_data: Optional[str], val_fraction: float,
         preset: str, minutes: float, steps: int, batch: Optional[int], lr: Optional[float], seed: int, device: str,
         threads: int, resume: bool, arch: list[str] | None, init: Optional[str] = None, val_every: float = 10.0,
         **extra) -> None:
    if model not in TRAINERS:
        fail(f"no trainer for model {model!r}; trainable: {', '.join(TRAINERS)}")
    for path in (data, val_data):
        if path and not Path(path).exists():
            fail(f"{path}: no such dataset")
    out = out or f"runs/{model}-{kind}"
    if init and Path(init).resolve() == Path(out).resolve():
        fail("--init and --out name the same folder; write the new checkpoint elsewhere")
    check_device(device)
    from ..puzzles.dataset import DatasetError

    common = dict(kind=kind, data=data, out=out, val_data=val_data, val_fraction=val_fraction, preset=preset,
                  minutes=minutes, max_steps=steps, batch=batch, lr=lr, seed=seed, device=device, threads=threads,
                  resume=resume, init=init, val_every=val_every,
                  command="rsolve " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                  overrides=parse_options(arch))
    module, attr = TRAINERS[model].split(":")
    try:
        cfg = _config(kind, model, common, extra)
        path = getattr(importlib.import_module(module), attr)(cfg)
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    if path:  # ranks other than 0 of a torchrun job write nothing
        typer.echo(f"rsolve: checkpoint written to {path}", err=True)


def _command(kind: str):
    def command(
        data: str = typer.Option(..., "--data", "-d", help="Training dataset (rsolve JSONL or any importable format)."),
        model: str = typer.Option("ldt", "--model", "-m", help="Engine to train: ldt | trm | hrm."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Checkpoint folder (default: runs/MODEL-KIND)."),
        val_data: Optional[str] = typer.Option(None, "--val-data", help="Validation set (else split off --data)."),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of --data held back for validation."),
        preset: str = typer.Option("auto", "--preset",
                                   help="cpu (small, for this kind of machine) | paper | auto (trm/hrm: paper on "
                                        "a GPU, else cpu; ldt: cpu)."),
        minutes: float = typer.Option(100.0, "--minutes", help="Wall-time budget; the LR schedule fits it."),
        steps: int = typer.Option(0, "--steps", help="Stop after this many steps (0: time budget only)."),
        batch: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch; trm/hrm: slots per process "
                                            "(default: ldt 64, trm/hrm cpu 32 (mazes 16), paper 768)."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default: ldt 2e-3, trm/hrm "
                                           "cpu 1e-3, paper 1e-4)."),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
        threads: int = typer.Option(0, "--threads", help="Torch CPU threads (0: torch's default)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT.run where it stopped."),
        arch: Optional[list[str]] = typer.Option(None, "--arch", help="Architecture override KEY=VALUE (repeatable); "
                                                 "e.g. mixer=attention for TRM-Att."),
        init: Optional[str] = typer.Option(None, "--init", help="Warm start from this checkpoint folder's weights."),
        val_every: float = typer.Option(10.0, "--val-every", help="Minutes between validations and saves."),
        precision: Optional[str] = typer.Option(None, "--precision",
                                                help="trm/hrm: fp32 | bf16 autocast | auto: bf16 where the "
                                                     "hardware has native bf16 (measured faster), else fp32."),
        compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                                help="trm/hrm: torch.compile the model (default: on when a "
                                                     "C++ compiler is found and the run has >= 10 minutes and no "
                                                     "--steps below 500: compiling takes ~1 min on a CPU)."),
        ema: Optional[float] = typer.Option(None, "--ema", help="trm/hrm: weight EMA decay (default: 0.999)."),
        max_steps_per_puzzle: Optional[int] = typer.Option(
            None, "--max-steps-per-puzzle", help="trm/hrm: supervision steps per puzzle, N_sup (default: cpu 8, "
                                                 "paper 16)."),
    ):
        _run(kind, model, data, out, val_data, val_fraction, preset, minutes, steps, batch, lr, seed, device,
             threads, resume, arch, init, val_every, precision=precision, compile=compile_, ema=ema,
             max_steps_per_puzzle=max_steps_per_puzzle)

    command.__doc__ = (f"Train a {kind} model; progress on stderr, metrics in OUT.run/metrics.jsonl. "
                       "TRM/HRM also run under `torchrun --nproc_per_node N` (DDP).")
    return command


train_app.command("sudoku")(_command("sudoku"))
train_app.command("maze")(_command("maze"))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
