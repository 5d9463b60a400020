"""What every write asks of RDB persistence, in a class of its own so that the compiled request path
reads and counts it as native attributes (persistence.py itself stays Python: it forks and writes files)."""

from __future__ import annotations


class Changes:
    """Redis's server.dirty and lastbgsave_status: the changes since the last successful save (what save
    points count and INFO's rdb_changes_since_last_save shows), and whether the last background save
    succeeded (a failed one refuses writes with MISCONF while stop-writes-on-bgsave-error says so)."""

    def __init__(self) -> None:
        self.dirty = 0
        self.last_bgsave_ok = True
