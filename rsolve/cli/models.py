"""`rsolve models` and `rsolve info`."""

from __future__ import annotations

import typer

from .common import fail, table_console


def models_command(
    options: bool = typer.Option(False, "--options", help="Also list each engine's options (for -O KEY=VALUE; "
                                 "the ones with a flag also work as --KEY VALUE on `rsolve solve`)."),
):
    """List the engines and the installed checkpoints (and with --options, what each engine takes)."""

    from .. import checkpoints, engines

    console = table_console(200)
    console.print(_engine_table(engines))
    if options:
        for spec in engines.REGISTRY.values():
            if spec.options:
                console.print(_options_table(spec))
        bare = [n for n, s in engines.REGISTRY.items() if not s.options]
        console.print(f"{', '.join(bare)}: no options")
    found = checkpoints.installed()
    if found:
        console.print(_checkpoint_table(found))
    else:
        console.print("no installed checkpoints (search path: "
                      + ", ".join(str(p) for p in checkpoints.search_path()) + ")")


def _engine_table(engines):
    from rich.table import Table

    table = Table(title="engines", title_justify="left")
    for col in ("model", "kinds", "needs", "what it is"):
        table.add_column(col)
    for name, spec in engines.REGISTRY.items():
        table.add_row(name, ", ".join(spec.kinds), "checkpoint" if spec.neural else "-", spec.summary)
    return table


def _options_table(spec):
    from rich.table import Table

    table = Table(title=f"{spec.name} options", title_justify="left")
    for col in ("option", "values", "what it does"):
        table.add_column(col)
    for opt in spec.options:
        table.add_row(f"{opt.name}" + (f" (--{opt.name})" if opt.flag else ""), opt.describe(), opt.help)
    return table


def _checkpoint_table(found):
    from rich.table import Table

    from .. import checkpoints

    table = Table(title="installed checkpoints (use with --checkpoint NAME)", title_justify="left")
    for col in ("name", "model", "kind", "status", "path"):
        table.add_column(col)
    for path, config, error in found:
        table.add_row(path.name, _model_of(config, checkpoints), config["kind"] if config else "?",
                      "ok" if config else error, str(path))
    return table


def info_command(checkpoint: str = typer.Argument(..., help="A checkpoint folder, or the name of one on the "
                                                            "checkpoint search path (see `rsolve models`).")):
    """Validate a checkpoint folder and print its card.

    Checks the config (format version, engine, kind, every architecture value), the
    weights file (header, size, checksum) and that the weights fit the architecture."""
    from .. import checkpoints
    from ..engines import EngineError

    try:
        ckpt = checkpoints.validate(checkpoint)
        from ..engines.neural import check_weights

        check_weights(ckpt, ckpt.engine)  # the config must build a network the weights fit
        card = ckpt.card()
    except (checkpoints.CheckpointError, EngineError) as exc:
        fail(str(exc))
    c = ckpt.config
    typer.echo(f"{ckpt.path}: ok - model {c['engine']}, {c['kind']}, format {c['format_version']}, "
               f"written by rsolve {c['rsolve_version']}")
    if card:
        typer.echo("")
        typer.echo(card.rstrip("\n"))


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
    app.command("info")(info_command)


def _model_of(config: dict | None, checkpoints) -> str:
    if not config:
        return "?"
    return f"{config['engine']} (generator)" if checkpoints.is_generator(config) else config["engine"]

