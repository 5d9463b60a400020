"""The compiled twins the accelerator tests compare with their Python twins."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rdbtools.formats import accelerated


def require_accelerated(name: str, module: str = "rdbtools.formats._speedups") -> Callable:
    """The compiled twin ``name`` of ``module``; without it the calling test module is skipped.

    On the pure pass of ./scripts/test (RDBTOOL_PURE_PYTHON=1) the extensions are switched off on purpose,
    so there is nothing to compare; the compiled pass compares them. On CI otherwise a missing extension
    means the build left it out: that fails.
    """
    compiled = accelerated(name, module)
    if compiled is not None:
        return compiled
    if os.environ.get("RDBTOOL_PURE_PYTHON"):
        pytest.skip("RDBTOOL_PURE_PYTHON=1 switches the extensions off", allow_module_level=True)
    extension = module.rpartition(".")[2]
    if os.environ.get("CI"):
        pytest.fail(f"the {extension} extension was not built", pytrace=False)
    pytest.skip(f"the {extension} extension is not built here", allow_module_level=True)
