"""`rsolve models` and `rsolve info`."""

from __future__ import annotations

import typer

from .common import fail

ARCH_CHECKED = ("trm", "hrm")


def models_command():
    """List the engines and the installed checkpoints."""
    from rich.console import Console
    from rich.table import Table

    from .. import checkpoints, engines

    console = Console()
    table = Table(title="engines", title_justify="left")
    for col in ("model", "kinds", "needs", "what it is"):
        table.add_column(col)
    for name, spec in engines.REGISTRY.items():
        table.add_row(name, ", ".join(spec.kinds), "checkpoint" if spec.neural else "-", spec.summary)
    console.print(table)
    found = checkpoints.installed()
    ckpts = Table(title="installed checkpoints", title_justify="left")
    for col in ("path", "model", "kind", "status"):
        ckpts.add_column(col)
    for path, config, error in found:
        ckpts.add_row(str(path), config["engine"] if config else "?", config["kind"] if config else "?",
                      "ok" if config else error)
    if found:
        console.print(ckpts)
    else:
        console.print("no installed checkpoints (search path: "
                      + ", ".join(str(p) for p in checkpoints.search_path()) + ")")


def info_command(checkpoint: str = typer.Argument(..., help="A checkpoint folder.")):
    """Validate a checkpoint folder (config, format version, weights and checksum; for trm and hrm also
    that the weights fit the architecture) and print its card."""
    from .. import checkpoints

    try:
        ckpt = checkpoints.validate(checkpoint)
    except checkpoints.CheckpointError as exc:
        fail(str(exc))
    c = ckpt.config
    if c["engine"] in ARCH_CHECKED:  # their configs must build a network the weights fit
        from ..engines import EngineError
        from ..engines.neural import check_weights

        try:
            check_weights(ckpt, c["engine"])
        except EngineError as exc:
            fail(str(exc))
    typer.echo(f"{ckpt.path}: ok - model {c['engine']}, {c['kind']}, format {c['format_version']}, "
               f"written by rsolve {c['rsolve_version']}")
    card = ckpt.card()
    if card:
        typer.echo("")
        typer.echo(card.rstrip("\n"))


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
    app.command("info")(info_command)
