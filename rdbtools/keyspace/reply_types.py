"""The reply types that are built-in types with a meaning added (a simple string, a map, a double, an error,
and serve's push and set).

They subclass str, dict, float, list and Exception, which mypyc does not compile as native classes as
Python makes them (str, dict, float and list it refuses; a native Exception subclass accepts weak references but
does not clear them when freed, and a weakly referenced error reply crashed the interpreter): this
module stays Python in the compiled build (pyproject.toml's ``[tool.rdbtool.mypyc]``), and the rest of
the engine imports them from here through ``keyspace.commands`` (serve through ``server.protocol``).
"""


class Status(str):
    """A simple-string reply (+OK), as opposed to a bulk string."""


class Map(dict):
    """A reply that is a map in RESP3 and a flat array in RESP2 (HGETALL, XINFO, CONFIG GET ...)."""


class Double(float):
    """A double reply: RESP3's ',' type, a bulk string in RESP2 (coordinates, RESP3 scores)."""

    text: bytes | None = None  # printed as the server prints it, when not the shortest form


class Push(list):
    """An out-of-band message (pub/sub): a push in RESP3, an array in RESP2 (serve's)."""


class SetReply(list):
    """A set: RESP3 '~' type, an array in RESP2 (serve's)."""


class Replies(tuple):
    """Replies written one after the other, with no header of their own: what a command of EXEC answered
    with messages (UNSUBSCRIBE a b: two, SUBSCRIBE of nothing new: none) in its place in EXEC's array,
    whose length counts the commands, as Redis writes a transaction's output (serve's)."""


class CommandError(Exception):
    """An error reply with Redis's text (replaying goes on after one, as Redis's AOF loading does)."""
