"""The typer application; its commands report errors through rdbtools.cli.reporting (re-exported here)."""

from __future__ import annotations

import gc
import importlib
import sys

import typer

from rdbtools.cli.reporting import EXIT_BAD_FILE, EXIT_OK, EXIT_USAGE, fail, reports_errors

__all__ = ["EXIT_BAD_FILE", "EXIT_OK", "EXIT_USAGE", "app", "fail", "main", "reports_errors"]

app = typer.Typer(
    name="rdbtool",
    help="Read, check, repair and convert Redis persistence files (RDB and AOF) without a running Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: command name -> the module that registers it
COMMANDS = {"check-aof": "check_aof", "convert": "convert", "dump": "dump", "report": "report", "serve": "serve",
            "verify": "verify"}


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
