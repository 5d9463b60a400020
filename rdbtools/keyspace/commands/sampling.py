"""ZRANDMEMBER and HRANDFIELD, as Redis 6.2+ answers them: one random element (nil for a missing
key), or a count of them (an empty array for a missing key): a positive count distinct elements (the
whole collection, in its own order, when it asks for as many or more), a negative count that many
picks that may repeat; each with its score / value when asked."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import INT64_MAX, INT64_MIN, SYNTAX, CommandError, command, integer
from rdbtools.keyspace.model import Entry

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine


def _count(args: list[bytes], flag: bytes) -> tuple[int | None, bool]:
    """(count or None, whether WITHSCORES / WITHVALUES was given), checked before the key."""
    if len(args) < 3:
        return None, False
    count = integer(args[2])
    if count == INT64_MIN:
        raise CommandError(f"ERR value is out of range, value must between {-INT64_MAX} and {INT64_MAX}")
    if len(args) > 4 or (len(args) == 4 and args[3].upper() != flag):
        raise CommandError(SYNTAX)
    if len(args) == 4 and abs(count) > INT64_MAX // 2:  # C divides towards zero
        raise CommandError("ERR value is out of range")
    return count, len(args) == 4


def random_elements(args: list[bytes], lookup: Callable[[], Entry | None], flag: bytes, ordered: Callable[[dict], list],
                    paired: Callable[[dict, bytes], bytes]):
    count, with_pairs = _count(args, flag)
    entry = lookup()
    if count is None:
        return None if entry is None else random.choice(list(entry.value))
    if entry is None or count == 0:
        return []
    members = list(entry.value)
    if count < 0:
        chosen = random.choices(members, k=-count)
    elif count >= len(members):
        chosen = ordered(entry.value)
    else:
        chosen = random.sample(members, count)
    if not with_pairs:
        return chosen
    return [x for member in chosen for x in (member, paired(entry.value, member))]


@command("zrandmember", -2, write=False)
def zrandmember(e: Engine, args: list[bytes]):
    from rdbtools.keyspace.commands.zsets import score_text

    def highest_first(scores: dict) -> list[bytes]:  # the whole set comes back from its last member
        return [m for m, _ in sorted(scores.items(), key=lambda pair: (pair[1], pair[0]), reverse=True)]

    return random_elements(args, lambda: e.get(args[1], "zset"), b"WITHSCORES", highest_first,
                           lambda scores, member: score_text(e.target, scores[member]))


@command("hrandfield", -2, write=False)
def hrandfield(e: Engine, args: list[bytes]):
    from rdbtools.keyspace.commands.hashes import _hash  # fields past their TTL go first

    return random_elements(args, lambda: _hash(e, args[1]), b"WITHVALUES", list, lambda fields, field: fields[field])
