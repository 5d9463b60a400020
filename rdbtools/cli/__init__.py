"""The ``rdbtool`` command: a thin typer layer over the library. Errors become one-line messages here.

Importing the package loads nothing else: ``python -m rdbtools.cli.serving`` starts serve without typer."""

from __future__ import annotations


def main() -> None:
    """rdbtool's entry point (the typer application in rdbtools.cli.app)."""
    from rdbtools.cli.app import main as run

    run()
