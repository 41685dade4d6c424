"""rsolve's command line: thin Typer commands over rsolve.api.

Exit codes (every command):
  0  everything asked for succeeded (solve: every record solved and verified)
  1  some record was not solved / not verified
  2  usage error, unreadable input or checkpoint, or some record invalid
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM, training)
No traceback reaches the user; `--debug` shows one.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from . import data, models, solve, train

app = typer.Typer(
    name="rsolve",
    help="Solve Sudoku and mazes with small recursive reasoning models; every answer is verified.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        from .. import __version__

        typer.echo(f"rsolve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on internal errors."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    if debug:
        os.environ["RSOLVE_DEBUG"] = "1"


solve.register(app)
models.register(app)
data.register(app)
train.register(app)


class OutputClosed(Exception):
    """stdout's reader went away (`rsolve solve big.txt | head -1`). Not an OSError, so
    the command-line framework, which exits 1 on a broken pipe, lets it through."""


class _GuardedStdout:
    """sys.stdout, with a closed pipe turned into OutputClosed."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise OutputClosed from None

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _framework_errors():
    """(usage error, aborts) classes of the click this Typer uses (new Typer vendors it)."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException
    aborts = [typer.Abort]
    try:
        from click.exceptions import Abort
        aborts.append(Abort)
    except ImportError:
        pass
    return ClickException, tuple(aborts)


def main() -> None:
    """Console entry point: run the app, turning any escaped error into one line and exit 2.
    Click's own handling is off (standalone_mode=False): it would exit 1 on a closed pipe
    and print "Aborted!" on Ctrl-C."""
    usage_error, aborts = _framework_errors()
    debug = "--debug" in sys.argv or os.environ.get("RSOLVE_DEBUG") == "1"
    sys.stdout = _GuardedStdout(sys.stdout)
    signal.signal(signal.SIGINT, _on_interrupt) if signal.getsignal(signal.SIGINT) is signal.default_int_handler \
        else None
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, *aborts):
        code = 130
    except OutputClosed:
        _silence_stdout()
        sys.exit(0)
    except usage_error as exc:  # a bad option or argument: click's message, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # last line of defence: no traceback for users
        if debug:
            raise
        print(f"rsolve: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        sys.exit(2)
    if _INTERRUPTED:  # results so far are out; say why the rest is missing
        _flush_or_silence()
        print("rsolve: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


_INTERRUPTED = False


def _on_interrupt(signum, frame):
    global _INTERRUPTED
    _INTERRUPTED = True
    raise KeyboardInterrupt


def _silence_stdout() -> None:
    # the interpreter flushes stdout once more at exit: point it at /dev/null first
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())


def _flush_or_silence() -> None:
    try:
        sys.stdout.flush()
    except (OutputClosed, ValueError, OSError):
        _silence_stdout()
