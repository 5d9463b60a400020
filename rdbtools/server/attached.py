"""State a feature keeps for one server (the slow log, MIGRATE's connections), made when first needed and
held outside the Server object's own attributes, which are kept few (see core.Server): every request reads
them. It lives in ``server.process.attached`` (a compiled Server takes no weak references)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rdbtools.server.core import Server

T = TypeVar("T")


def attached(server: Server, kind: type[T]) -> T:
    """The server's ``kind`` object (``kind()`` the first time)."""
    state = server.process.attached
    found = state.get(kind)
    if found is None:
        found = state[kind] = kind()
    return found
