"""The ``rdbtool`` command: a thin typer layer over the library. Errors become one-line messages here."""

from rdbtools.cli.app import app, main

__all__ = ["app", "main"]
