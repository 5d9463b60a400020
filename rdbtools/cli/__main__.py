"""``python -m rdbtools.cli`` runs the ``rdbtool`` command."""

from rdbtools.cli.app import main

main()
