"""The RDB and AOF formats, declared once as construct schemas, each with its fast path beside it."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import TypeAlias

#: what a decoder reads: a file's mapping (memoryview) or a blob already read (bytes)
Blob: TypeAlias = bytes | memoryview


def accelerated(name: str, module: str = "rdbtools.formats._speedups") -> Callable | None:
    """The compiled twin of a fast path, when its extension (``_speedups.c`` unless told) was built and
    not switched off.

    RDBTOOL_PURE_PYTHON=1 forces the pure-Python paths (to compare them, or to rule the extension out).
    """
    if os.environ.get("RDBTOOL_PURE_PYTHON"):
        return None
    try:
        compiled = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(compiled, name)
