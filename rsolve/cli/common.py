"""Helpers shared by the CLI commands: input sources, errors, stderr messages."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn

import typer

def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2: usage error or unusable input)."""
    typer.echo(f"rsolve: {message}", err=True)
    raise typer.Exit(code)


def say(message: str, quiet: bool = False) -> None:
    if not quiet:
        typer.echo(message, err=True)


def open_sources(inputs: list[str] | None, stack: ExitStack) -> list[tuple[str, object]]:
    """(name, binary stream) for each input; `-` or no input with piped stdin reads stdin."""
    if not inputs:
        if sys.stdin is None or sys.stdin.isatty():
            fail("no input: give puzzle files, or pipe puzzles to standard input (see --help)")
        inputs = ["-"]
    sources = []
    for name in inputs:
        if name == "-":
            sources.append(("<stdin>", sys.stdin.buffer))
            continue
        path = Path(name)
        if path.is_dir():
            fail(f"{name}: is a directory, not a puzzle file")
        try:
            sources.append((name, stack.enter_context(open(path, "rb"))))
        except FileNotFoundError:
            fail(f"{name}: no such file")
        except OSError as exc:
            fail(f"{name}: cannot read ({exc.strerror})")
    return sources


def check_device(device: str) -> str:
    """The device name, or exit 2 with one line (unknown, or cuda without a GPU)."""
    from ..devices import DeviceError, check_device as check

    try:
        return check(device)
    except DeviceError as exc:
        fail(str(exc))


def engine_options(pairs: list[str] | None, flags: dict | None = None) -> dict:
    """`-O KEY=VALUE` pairs and engine flags as one dict of raw values (exit 2 on a bad pair)."""
    from ..engines.options import OptionError, parse_pairs

    try:
        return {**parse_pairs(pairs), **{k: v for k, v in (flags or {}).items() if v is not None}}
    except OptionError as exc:
        fail(str(exc))


def parse_options(pairs: list[str] | None) -> dict:
    """KEY=VALUE settings (`--arch`); values parse as int, float, bool or stay strings."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"bad --option {pair!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                out[key.replace("-", "_")] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key.replace("-", "_")] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
