"""CI's gates on a report (``--fail-key-over``, ``--fail-total-over``): what exceeds them, as messages."""

from __future__ import annotations

from rdbtools.errors import format_key
from rdbtools.report.run import Report
from rdbtools.report.sizes import human_size
from rdbtools.report.summary import ranked


def exceeded(report: Report, key_limit: int | None, total_limit: int | None) -> list[str]:
    """One message a gate exceeded: the biggest key over ``key_limit`` bytes, the total (keys and overhead) over
    ``total_limit``."""
    failures = []
    top = ranked(report.summary.top_keys)
    if key_limit is not None and top and top[0][0] > key_limit:
        size, file, db, key = top[0][:4]
        over = sum(entry[0] > key_limit for entry in top)
        more = f" ({over} of the top {len(top)} keys are)" if over > 1 else ""
        failures.append(f"key {format_key(key)} (db {db} of {file}) uses {human_size(size)}, over "
                        f"--fail-key-over {human_size(key_limit)}{more}")
    total = report.total
    if total_limit is not None and total > total_limit:
        failures.append(f"the keys and the keyspace's tables use {human_size(total)}, over --fail-total-over "
                        f"{human_size(total_limit)}")
    return failures
