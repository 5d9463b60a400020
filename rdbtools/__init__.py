"""rdbtool: read, check, repair and convert Redis persistence files without a running Redis.

The library API; the ``rdbtool`` command is a thin layer over it::

    import rdbtools

    with rdbtools.open_rdb("dump.rdb") as rdb:
        print(rdb.header.version)
        for record in rdb.keys():
            print(record.db, record.key, record.type, record.expire_ms)

    report = rdbtools.verify_rdb("dump.rdb")
    print(report.verdict, report.problems)
"""

import os
from collections.abc import Callable
from importlib import import_module
from typing import Any


def exported_lazily(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` that imports each public name's module on first use (PEP 562)."""

    def attribute(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name]), name)

    return attribute


# which build runs (rdbtools/compiled.py): only with the switch set or a compiled build's manifest beside us
if os.environ.get("RDBTOOL_PURE_PYTHON") or os.path.exists(os.path.join(os.path.dirname(__file__), "_compiled.txt")):
    from rdbtools.compiled import select

    select()


#: public name -> module that defines it; imported on first use so that `import rdbtools.errors`
#: (or the CLI's start) does not pay for the whole reader
_EXPORTS = {
    **dict.fromkeys(
        ("ChecksumError", "FormatError", "InputError", "RdbtoolError", "TruncatedError", "UnsupportedError"),
        "rdbtools.errors",
    ),
    **dict.fromkeys(
        ("Aux", "Consumer", "ConsumerGroup", "Function", "Header", "KeyRecord", "ModuleAux", "ModuleValue",
         "PendingEntry", "ResizeDb", "SelectDb", "SlotImport", "SlotInfo", "Stream", "StreamEntry",
         "StreamId"),
        "rdbtools.rdb.model",
    ),
    "KeyFilter": "rdbtools.rdb.filters",
    "RdbFile": "rdbtools.rdb.reader",
    "open_rdb": "rdbtools.rdb.reader",
    "AofCommand": "rdbtools.aof.reader",
    "AofSnapshotRecord": "rdbtools.aof.reader",
    "open_aof": "rdbtools.aof.reader",
    "convert": "rdbtools.conversion",
    "ConvertReport": "rdbtools.conversion",
    "VerifyReport": "rdbtools.rdb.verify",
    "verify_rdb": "rdbtools.rdb.verify",
}

__all__ = sorted(_EXPORTS)
__getattr__ = exported_lazily(__name__, _EXPORTS)
