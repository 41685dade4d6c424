"""Command-line flags built from the engine specs.

An engine option marked `flag` in its spec (rsolve.engines) becomes a `--name`
flag of the commands decorated here, with help saying which engines read it;
the decorated function receives the given ones as `engine_flags`. Values stay
raw strings: the engine's Option parses and checks them, so a bad value reads
the same whether it came from `--chains x` or `-O chains=x`.
"""

from __future__ import annotations

import inspect
from typing import Optional

import typer

PANEL = "Engine options (see `rsolve models --options`)"


def _flag_parameters() -> list[inspect.Parameter]:
    from .. import engines

    owners: dict[str, list] = {}
    for spec in engines.REGISTRY.values():
        for opt in spec.options:
            if opt.flag:
                owners.setdefault(opt.name, []).append((spec.name, opt))
    params = []
    for name, declared in owners.items():
        opt = declared[0][1]
        who = ", ".join(n for n, _ in declared)
        help_ = f"{who}: {opt.help} ({opt.describe()})."
        metavar = "|".join(opt.choices) if opt.choices else {int: "INT", float: "NUMBER"}.get(opt.type, "TEXT")
        default = typer.Option(None, f"--{name.replace('_', '-')}", help=help_, rich_help_panel=PANEL,
                               show_default=False, metavar=metavar)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Optional[str]))
    return params


def with_engine_flags(func):
    """Add one flag per flagged engine option to a Typer command function that takes
    `engine_flags: dict` (the given flags, by option name)."""
    sig = inspect.signature(func, eval_str=True)
    base = [p for p in sig.parameters.values() if p.name != "engine_flags"]
    flags = _flag_parameters()
    names = {p.name for p in flags}

    def command(**kwargs):
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return func(**kwargs, engine_flags={k: v for k, v in given.items() if v is not None})

    command.__signature__ = sig.replace(parameters=base + flags)
    command.__doc__, command.__name__ = func.__doc__, func.__name__
    return command
