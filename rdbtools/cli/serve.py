"""``rdbtool serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from rdbtools.cli.app import app
from rdbtools.cli.serving import run


@app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve_command(
    arguments: Annotated[list[str] | None, typer.Argument(
        help="[CONFIG_FILE] [--directive value ...]: redis-server's configuration, e.g. "
             "'redis.conf --port 7000 --save \"60 1\"'; --target redis-7.0 chooses the file formats.",
        show_default=False)] = None,
) -> None:
    """A Redis-compatible server that persists real RDB snapshots and AOF files (for tests and demos).
    Exit status: 0 after SHUTDOWN or SIGTERM, 1 when it cannot start (bad configuration, corrupt dump or AOF)."""
    run(list(arguments or []))
