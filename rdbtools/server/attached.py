"""State a feature keeps for one server (the slow log, MIGRATE's connections), made when first needed and
held outside the Server object, whose attributes are kept few (see core.Server): every request reads them."""

from __future__ import annotations

import weakref
from typing import TypeVar

T = TypeVar("T")

_STATE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attached(server: object, kind: type[T]) -> T:
    """The server's ``kind`` object (``kind()`` the first time)."""
    state = _STATE.setdefault(server, {})
    found = state.get(kind)
    if found is None:
        found = state[kind] = kind()
    return found
