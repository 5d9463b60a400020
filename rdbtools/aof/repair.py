"""Apply what check_aof planned: cut a file back, after keeping the original next to it.

Nothing is changed in place: the original is copied to a backup (fsync'd) first, then the kept
prefix is written to a temporary file that replaces the original atomically.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from rdbtools.atomic import atomic_output, fsync_directory

_COPY_CHUNK = 1 << 20


def backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}.{counter}.bak")
        counter += 1
    return candidate


def truncate_with_backup(path: str | os.PathLike[str], keep: int) -> Path:
    """Keep the first ``keep`` bytes of the file; return where the original was saved."""
    path = Path(path)
    backup = backup_path(path)
    shutil.copy2(path, backup)
    with open(backup, "rb") as saved:
        os.fsync(saved.fileno())
    fsync_directory(str(path.parent))
    with open(backup, "rb") as source, atomic_output(path) as out:
        remaining = keep
        while remaining:
            chunk = source.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    return backup
