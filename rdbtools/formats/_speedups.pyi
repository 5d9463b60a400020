"""The optional C accelerator (_speedups.c): each function is the compiled twin of a pure-Python fast path,
looked up by name through ``rdbtools.formats.accelerated``, which gives the Python twin's type to it."""

from collections.abc import Callable
from typing import Any

def __getattr__(name: str) -> Callable[..., Any]: ...
