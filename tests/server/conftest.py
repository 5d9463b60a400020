"""Fixtures the server tests share."""

from __future__ import annotations

import contextlib

import pytest

from tests.server.serving import start_serve
from tests.servers import start_server


@pytest.fixture(scope="module")
def pairs():
    """pairs(target): a real server (DEBUG enabled where it has the switch) and serve for that target,
    started when a test of the module first asks for the target, stopped after the module."""
    started: dict[str, tuple] = {}
    with contextlib.ExitStack() as stack:
        def get(target: str):
            if target not in started:
                debug = ("--enable-debug-command", "yes") if target != "redis-6.2" else ()
                real = stack.enter_context(start_server(target, extra=debug))
                served = stack.enter_context(start_serve("--target", target))
                started[target] = (real, served)
            return started[target]
        yield get
