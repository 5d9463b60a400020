"""The reply types that are built-in types with a meaning added (a simple string, a map, a double).

They subclass str, dict and float, which mypyc cannot compile as native classes: this module stays
Python in the compiled build (setup.py leaves it out), and the rest of the engine imports them from
here through ``keyspace.commands``.
"""


class Status(str):
    """A simple-string reply (+OK), as opposed to a bulk string."""


class Map(dict):
    """A reply that is a map in RESP3 and a flat array in RESP2 (HGETALL, XINFO, CONFIG GET ...)."""


class Double(float):
    """A double reply: RESP3's ',' type, a bulk string in RESP2 (coordinates, RESP3 scores)."""

    text: bytes | None = None  # printed as the server prints it, when not the shortest form
