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
            sources.append(("<stdin>", _stdin_reader(stack)))
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


def _stdin_reader(stack: ExitStack):
    """A reader of its own over file descriptor 0, for the reading thread (rsolve.batching).
    Had that thread read sys.stdin itself, it would hold sys.stdin's lock while blocked on a
    pipe, and the interpreter's shutdown (after `| head -1` or Ctrl-C), or a worker process
    forked meanwhile (which closes its inherited sys.stdin), would wait for that lock forever
    or abort."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stdin (tests): read it as it is
        return sys.stdin.buffer
    return stack.enter_context(open(fd, "rb", closefd=False))


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


def table_console(width_when_piped: int = 100):
    """A Rich console for tables: the terminal's width, or `width_when_piped` columns when
    stdout is a pipe or a file (Rich would assume 80 and cut the cells)."""
    from rich.console import Console

    return Console(width=None if stdout_is_terminal() else width_when_piped)
