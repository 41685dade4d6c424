"""Engine options as data: each engine's spec lists what it takes, so the CLI can
build its flags, check `-O KEY=VALUE` before any record is read, and route each
option only to the engines that declare it. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class OptionError(ValueError):
    """An option an engine does not take, or a value it cannot use (one line)."""


@dataclass(frozen=True)
class Option:
    name: str
    type: type  # int, float, str or bool
    default: object  # None: the engine picks (per puzzle kind or from its checkpoint)
    help: str
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    flag: bool = False  # also a `--name` flag of `rsolve solve` (else only -O name=value)

    def parse(self, value, model: str):
        """The value as this option's type, checked; OptionError names the model and the rule."""
        where = f"option {self.name}={value!r} ({model})"
        if self.type is bool:
            return _to_bool(value, where)
        if self.choices:
            text = str(value).lower()
            if text not in self.choices:
                raise OptionError(f"{where}: choose from {', '.join(self.choices)}")
            return text
        try:
            if isinstance(value, bool) or (self.type is int and isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = self.type(value)
        except (TypeError, ValueError, OverflowError):
            raise OptionError(f"{where}: expected {'an integer' if self.type is int else 'a number'}") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise OptionError(f"{where}: expected a finite number")
        if self.min is not None and out < self.min or self.max is not None and out > self.max:
            raise OptionError(f"{where}: must be in {_range(self)}")
        return out

    def describe(self) -> str:
        """Type, allowed values and default, for `rsolve models --options` and flag help."""
        kind = "|".join(self.choices) if self.choices else {int: "int", float: "number", bool: "true|false",
                                                             str: "text"}[self.type]
        if not self.choices and (self.min is not None or self.max is not None):
            kind += f" in {_range(self)}"
        if self.default is None:  # the help says what the engine picks
            return kind
        default = str(self.default).lower() if isinstance(self.default, bool) else str(self.default)
        return f"{kind}, default {default}"


def _range(opt: Option) -> str:
    lo = "-inf" if opt.min is None else f"{opt.min:g}"
    hi = "inf" if opt.max is None else f"{opt.max:g}"
    return f"[{lo}, {hi}]"


def _to_bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "on", "yes", "1"):
        return True
    if text in ("false", "off", "no", "0"):
        return False
    raise OptionError(f"{where}: expected true or false")


def resolve(model: str, declared: tuple[Option, ...], given: dict) -> dict:
    """Every declared option of `model` with its value: the given ones parsed, the rest at
    their defaults. An undeclared name is an OptionError."""
    table = {o.name: o for o in declared}
    for key in given:
        if key not in table:
            takes = f"its options: {', '.join(sorted(table))}" if table else "it takes no options"
            raise OptionError(f"model {model!r} has no option {key!r} ({takes}; see `rsolve models --options`)")
    return {name: (opt.parse(given[name], model) if given.get(name) is not None else opt.default)
            for name, opt in table.items()}


def parse_pairs(pairs: list[str] | None) -> dict:
    """`-O KEY=VALUE` strings as a dict of raw strings (the engine's Option types them);
    dashes in keys read as underscores."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"bad option {pair!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_").lower()] = value.strip()
    return out
