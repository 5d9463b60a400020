"""What ``rdbtool serve`` runs, also as ``python -m rdbtools.cli.serving [CONFIG_FILE] [--directive value ...]``:
the same start without typer (the parser and the pydantic it loads are a third of a start's CPU time), for
starts that count, as the pytest plugin's server per test (rdbtools/testing/served.py)."""

from __future__ import annotations

import gc
import sys

from rdbtools.cli.reporting import EXIT_BAD_FILE, fail, reports_errors


@reports_errors
def run(arguments: list[str]) -> None:
    """Serve redis-server's arguments: a config file first (optional), then ``--directive value ...``."""
    from rdbtools.server.app import serve
    from rdbtools.server.config import ServerConfig

    config_file = arguments.pop(0) if arguments and not arguments[0].startswith("--") else None
    config = ServerConfig.load(config_file, arguments)
    try:
        serve(config)
    except OSError as error:
        fail(str(error.strerror or error), EXIT_BAD_FILE)


if __name__ == "__main__":
    gc.disable()  # as rdbtool's main does before a command: serve enables the collector once it has loaded
    run(sys.argv[1:])
