"""The typer application and the one place where exceptions become messages and exit codes."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

from rdbtools.errors import InputError, RdbtoolError

EXIT_OK = 0
EXIT_BAD_FILE = 1  # corrupt or unsupported input
EXIT_USAGE = 2  # usage error or unreadable file

app = typer.Typer(
    name="rdbtool",
    help="Read, check, repair and convert Redis persistence files (RDB and AOF) without a running Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int) -> None:
    typer.echo(f"rdbtool: error: {message}", err=True)
    raise typer.Exit(code)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into one located line on stderr and the documented exit code."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            fail(str(error), EXIT_USAGE)
        except RdbtoolError as error:
            fail(str(error), EXIT_BAD_FILE)
        except BrokenPipeError:
            sys.stderr.close()  # the reader of our output went away (| head): not an error
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return run


#: command name -> the module that registers it
COMMANDS = {"check-aof": "check_aof", "convert": "convert", "dump": "dump", "serve": "serve", "verify": "verify"}


@app.callback()
def _group() -> None:
    """Keeps rdbtool a group of commands when only the one being run is registered."""


def register_commands(argv: list[str]) -> None:
    """Import the command being run, or every command (help, a usage error): each command's imports
    cost start-up time (a third of a second for all of them), which every run pays."""
    wanted = COMMANDS.get(argv[0]) if argv else None
    for module in [wanted] if wanted else COMMANDS.values():
        importlib.import_module(f"rdbtools.cli.{module}")


def main() -> None:
    register_commands(sys.argv[1:])
    # Reading a file allocates millions of short-lived lists, dicts and tuples that never form
    # cycles; the cyclic collector would only rescan them (a fifth of verify's time). Reference
    # counting frees them all the same.
    gc.disable()
    app()
