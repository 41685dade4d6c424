"""rsolve's command line: thin Typer commands over rsolve.api.

Exit codes (every command):
  0  everything asked for succeeded (solve: every record solved and verified)
  1  some record was not solved / not verified
  2  usage error, unreadable input or checkpoint, or some record invalid
No traceback reaches the user; `--debug` shows one.
"""

from __future__ import annotations

import os
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


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on internal errors.")):
    if debug:
        os.environ["RSOLVE_DEBUG"] = "1"


solve.register(app)
models.register(app)
data.register(app)
train.register(app)


def main() -> None:
    """Console entry point: run the app, turning any escaped error into one line and exit 2."""
    debug = "--debug" in sys.argv or os.environ.get("RSOLVE_DEBUG") == "1"
    try:
        app()
    except KeyboardInterrupt:
        print("rsolve: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # a consumer such as `head` closed stdout early: that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except SystemExit:
        raise
    except Exception as exc:  # last line of defence: no traceback for users
        if debug:
            raise
        print(f"rsolve: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        sys.exit(2)
