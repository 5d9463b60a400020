"""rdbtool in test suites: a pytest plugin, an in-process client and persistence faults on demand.

Real persistence is what sets these apart from an emulator: what a test's application leaves on disk is an
RDB or AOF file that a real Redis loads, and its failures (a full disk, a failing fsync) behave as Redis's do.
"""

from __future__ import annotations

from rdbtools import exported_lazily

#: public name -> its module, imported on first use: the pytest plugin imports this package in every test
#: run that has rdbtool installed, and must not load the server (or redis-py) for suites that do not use it
_EXPORTS = {
    "InProcessRedis": "rdbtools.testing.inprocess",
    "RdbtoolServer": "rdbtools.testing.served",
}

__all__ = sorted(_EXPORTS)
__getattr__ = exported_lazily(__name__, _EXPORTS)
