"""`rsolve train sudoku|maze --model NAME`: train a neural engine into a checkpoint folder.

Each trainer declares its options (rsolve.train.config.opt): the flags below, their
help and the "only for --model X" checks all come from those declarations. The
same command runs under `torchrun --nproc_per_node N` for TRM and HRM
(DistributedDataParallel; only rank 0 logs, validates and saves)."""

from __future__ import annotations

import inspect
import shlex
from pathlib import Path
from typing import Optional

import typer

from ..train.config import FAMILIES, config_class, options
from .common import check_device, fail, parse_options

train_app = typer.Typer(help="Train a neural engine and write a checkpoint folder.", no_args_is_help=True)


def _models(names) -> str:
    return " or ".join(names)


def _declared() -> dict[str, list]:
    """Option name -> [(model, Option)] over every trainable model, in declaration order."""
    out: dict[str, list] = {}
    for model in FAMILIES:
        for o in options(config_class(model)):
            out.setdefault(o.name, []).append((model, o))
    return out


DECLARED = _declared()


def _cli_default(decls):
    """The flag's own default: the trainers' shared default, else None (not given:
    each trainer then uses its own)."""
    defaults = {repr(o.default) for _, o in decls}
    return decls[0][1].default if len(decls) == len(FAMILIES) and len(defaults) == 1 else None


def _help(decls) -> str:
    """The declared help; where trainers differ, each one's help and default."""
    cli_default, by_text = _cli_default(decls), {}
    for model, o in decls:
        own_default = cli_default is None and o.default is not None  # typer shows a shared one
        text = o.help.rstrip(".") + f" (default: {_shown(o.default)})." if own_default else o.help
        by_text.setdefault(text, []).append(model)
    if len(by_text) == 1:
        return next(iter(by_text))
    return " ".join(f"{_models(models)}: {text}" for text, models in by_text.items())


def _shown(value) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _parameter(name: str, decls) -> inspect.Parameter:
    o, default = decls[0][1], _cli_default(decls)
    models = [m for m, _ in decls]
    panel = None if len(models) == len(FAMILIES) else f"Only for --model {_models(models)}"
    kind = o.type if default is not None else Optional[o.type]
    info = typer.Option(default, *o.flags, help=_help(decls), rich_help_panel=panel,
                        show_default=default is not None and not o.flag_only)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind)


def _signature() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    model = typer.Option("ldt", "--model", "-m", help=f"Engine to train: {' | '.join(FAMILIES)}.")
    arch = typer.Option(None, "--arch", help="Architecture override KEY=VALUE (repeatable); e.g. "
                                             "mixer=attention for TRM-Att.")
    return [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
            inspect.Parameter("model", kw, default=model, annotation=str),
            *(_parameter(name, decls) for name, decls in DECLARED.items()),
            inspect.Parameter("arch", kw, default=arch, annotation=Optional[list[str]])]


def _command_line(ctx: typer.Context, kind: str, resume: bool = False) -> str:
    """The command as typed (click fills ctx.params in the order options were typed,
    a repeated option at its first place); `resume`: as a resume, with --resume
    once and without --overwrite."""
    parts, params = ["rsolve", "train", kind], {p.name: p for p in ctx.command.params}
    for p in (params[name] for name in ctx.params):
        typed = getattr(ctx.get_parameter_source(p.name), "name", "") == "COMMANDLINE"
        value, flag = ctx.params.get(p.name), max(p.opts, key=len)
        if resume and p.name in ("resume", "overwrite"):
            continue
        if not typed:
            continue
        if getattr(p, "is_flag", False):
            parts.append(flag if value or not p.secondary_opts else p.secondary_opts[0])
        else:
            for v in (value if p.multiple else [value]):
                parts += [flag, str(v)]
    return " ".join(shlex.quote(a) for a in parts + (["--resume"] if resume else []))


def _given(values: dict, model: str) -> dict:
    """The options given, after refusing those the model's trainer does not have."""
    own = {o.name for o in options(config_class(model))}
    for name, decls in DECLARED.items():
        value = values.get(name)
        if value is not None and value != _cli_default(decls) and name not in own:
            fail(f"{decls[0][1].flags[0].split('/')[0]}: only for --model {_models([m for m, _ in decls])}")
    return {k: v for k, v in values.items() if v is not None and k in own}


def _run(ctx: typer.Context, kind: str, values: dict) -> None:
    from ..train.loop import Stopped, train

    model, arch = values.pop("model").strip().lower(), values.pop("arch")
    if model not in FAMILIES:
        fail(f"no trainer for model {model!r}; trainable: {', '.join(FAMILIES)}")
    check_device(values["device"])  # before any data is generated or read
    for path in (values["data"], values["val_data"]):
        if path and not Path(path).exists():
            fail(f"{path}: no such dataset")
    cls, given = config_class(model), _given(values, model)
    if "model" in cls.__dataclass_fields__:
        given["model"] = model
    try:
        cfg = cls(kind=kind, command=_command_line(ctx, kind), overrides=parse_options(arch), **given)
        path = train(cfg)
    except Stopped as stop:
        typer.echo(f"rsolve: stopped at step {stop.step}; resume with: {_command_line(ctx, kind, resume=True)}",
                   err=True)
        raise typer.Exit(128 + stop.signum) from None
    except ValueError as exc:  # bad data, checkpoint, device or option: one line
        fail(str(exc))
    if path:  # ranks other than 0 of a torchrun job write nothing
        typer.echo(f"rsolve: checkpoint written to {path}", err=True)


def _command(kind: str):
    def command(ctx: typer.Context, **values):
        _run(ctx, kind, values)

    params = _signature()
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = (f"Train a {kind} model. Without --data it generates (and caches) a training and a "
                       "validation set. Progress with an ETA on stderr, metrics and resumable state in OUT.run; "
                       "Ctrl-C saves and prints the command that resumes. TRM/HRM also run under "
                       "`torchrun --nproc_per_node N` (DDP).")
    return command


train_app.command("sudoku")(_command("sudoku"))
train_app.command("maze")(_command("maze"))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
