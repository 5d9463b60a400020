"""Redis commands, a module per data type, registered by name with Redis's arity.

Each command is a function ``(engine, args) -> reply`` that changes the engine's keyspace; replies
are Python values (bytes, int, float, list, None; ``Status`` for simple strings) and errors are
``CommandError`` with Redis's text. The engine looks them up in ``REGISTRY``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from rdbtools.formats.numbers import INT64_MAX as INT64_MAX
from rdbtools.formats.numbers import INT64_MIN as INT64_MIN
from rdbtools.formats.numbers import canonical_int64, read_double
from rdbtools.keyspace.reply_types import CommandError as CommandError
from rdbtools.keyspace.reply_types import Double as Double
from rdbtools.keyspace.reply_types import Map as Map
from rdbtools.keyspace.reply_types import Status

if TYPE_CHECKING:
    from rdbtools.keyspace.engine import Engine
    from rdbtools.rdb.targets import Target

Handler = Callable[["Engine", list[bytes]], Any]


OK: Final = Status("OK")


class _NullArray:
    """The null array (RESP2 ``*-1``, RESP3 null), which Redis answers where a command's reply is an
    array and there is none to give: a pop with COUNT from a missing list, [B]LMPOP/ZMPOP finding
    nothing, XREAD with nothing new, a blocking pop inside MULTI, a missing GEOPOS member. Clients and
    scripts tell it from a null bulk string only by its encoding, but those that read raw RESP do."""

    __slots__ = ()

    def __bool__(self) -> bool:  # nothing, as None is
        return False

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY: Final = _NullArray()


@dataclass(frozen=True)
class Command:
    name: bytes
    handler: Handler
    arity: int  # Redis's: n exactly n arguments (the name included), -n at least n
    write: bool
    subcommands: tuple[bytes, ...] = ()  # a container's: those the handler runs (lower-case)


REGISTRY: dict[bytes, Command] = {}


def command(name: str, arity: int, *, write: bool = True, subcommands: str = "") -> Callable[[Handler], Handler]:
    """Register a data command (server/command_table.py: the one place a command is added); a container
    names the subcommands it runs, space-separated."""
    def register(handler: Handler) -> Handler:
        REGISTRY[name.encode()] = Command(name.encode(), handler, arity, write, tuple(subcommands.encode().split()))
        return handler

    return register


def alias(name: str, target: str) -> None:
    spec = REGISTRY[target.encode()]
    REGISTRY[name.encode()] = Command(name.encode(), spec.handler, spec.arity, spec.write, spec.subcommands)


# --- keyspace notifications: the event classes of notify-keyspace-events (Redis's NOTIFY_* bits) ----------

KEYSPACE: Final = 1
KEYEVENT: Final = 2
GENERIC: Final = 4
STRING: Final = 8
LIST: Final = 16
SET: Final = 32
HASH: Final = 64
ZSET: Final = 128
EXPIRED: Final = 256
EVICTED: Final = 512
STREAM: Final = 1024
KEY_MISS: Final = 2048
MODULE: Final = 8192
NEW: Final = 16384  # o and c: Redis 8.2
OVERWRITTEN: Final = 32768
TYPE_CHANGED: Final = 65536


# --- argument parsing, shared by every module ----------------------------------------------------

NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX: Final = "ERR syntax error"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def expire_time_ms(e: Engine, amount: int, unit_ms: int, absolute: bool, command: bytes) -> tuple[int, bool]:
    """An expiry argument as unix ms and whether it is past (Engine.expiry), refused as Redis refuses one
    whose ms time overflows 64 bits (its seconds are bounded by LLONG_MAX/1000 in C's truncating division
    first)."""
    if unit_ms == 1000 and not -(INT64_MAX // 1000) <= amount <= INT64_MAX // 1000:
        raise invalid_expire_time(e, command)
    when, past = e.expiry(amount, unit_ms, absolute)
    if when > INT64_MAX:
        raise invalid_expire_time(e, command)
    return when, past


def invalid_expire_time(e: Engine, command: bytes) -> CommandError:
    quoted = command if not e.target.valkey_server and e.target.version < (7, 0) else b"'%s' command" % command
    return CommandError(f"ERR invalid expire time in {quoted.decode()}")


def integer(value: bytes, error: str = NOT_INTEGER) -> int:
    """string2ll: the canonical decimal text of an int64 (no spaces, no '+', no leading zeros)."""
    number = canonical_int64(value)
    if number is None:
        raise CommandError(error)
    return number


def floating(value: bytes, error: str = "ERR value is not a valid float", hexadecimal: bool = True) -> float:
    """A double argument as Redis reads it (formats/numbers.py's read_double), else ``error``."""
    number = read_double(value, hexadecimal)
    if number is None:
        raise CommandError(error)
    return number


def format_double(value: float) -> bytes:
    """How Redis 7.2+ replies with a double (d2string): an integer within +-2^62 as one, otherwise the
    shortest digits that read back the same, laid out as fpconv_dtoa lays them out."""
    if value != value:
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value.is_integer() and abs(value) <= _HALF_LLONG:
        return b"%d" % value
    exponent: int  # a finite value's (typeshed's type also has the 'n', 'N', 'F' of NaN and infinities)
    sign, digits, exponent = Decimal(repr(value)).as_tuple()  # type: ignore[assignment]
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return (b"-" if sign else b"") + _fpconv_layout("".join(map(str, digits)), exponent).encode()


_HALF_LLONG = float(((1 << 63) - 1) // 2)  # as C compares it: 2^62


def _fpconv_layout(digits: str, k: int) -> str:
    """fpconv's emit_digits: ``digits`` x 10^k as a plain integer, a plain decimal, or d.ddde+x."""
    count = len(digits)
    exponent = abs(k + count - 1)
    if k >= 0 and exponent < count + 7:
        return digits + "0" * k
    if k < 0 and (k > -7 or exponent < 4):
        point = count + k
        return f"0.{'0' * -point}{digits}" if point <= 0 else f"{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if count > 1 else "")
    return f"{mantissa}e{'-' if k + count - 1 < 0 else '+'}{exponent}"


def subcommand_error(args: list[bytes], target: Target) -> CommandError:
    """Redis's reply to a subcommand a command does not know or with the wrong arguments (its
    addReplySubcommandSyntaxError; capitalised before 7.0, when dispatch began to catch most)."""
    old = not target.valkey_server and target.version < (7, 0)
    shown = args[1].decode("utf-8", "replace")[: None if old else 128]
    return CommandError(f"ERR {'Unknown' if old else 'unknown'} subcommand or wrong number of arguments for "
                        f"'{shown}'. Try {args[0].decode('utf-8', 'replace').upper()} HELP.")


def g17(value: float) -> bytes:
    """printf("%.17g"): how Redis 7.0 replies with a double, and how every version prints a skiplist's
    score in ZSCAN (fixed 17 digits, not the shortest text). A zero is 0: a sorted set answers no -0."""
    if not value:
        return b"0"
    if value != value:
        return b"nan"
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def wrong_arity(name: bytes) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name.decode('utf-8', 'replace').lower()}' command")


# --- INCRBYFLOAT arithmetic: x87 long doubles (64-bit mantissa), printed as "%.17Lf" trimmed ---------

_LONG_DOUBLE_BITS = 64
_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_HEX_NUMBER = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)(?:[pP]([+-]?\d+))?")


def _round_mantissa(value: Fraction) -> Fraction:
    """The long double nearest to an exact value (ties to even)."""
    if value == 0:
        return value
    magnitude = abs(value)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    scale = Fraction(2) ** (exponent - _LONG_DOUBLE_BITS + 1)
    units = magnitude / scale
    whole = units.numerator // units.denominator
    rest = units - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
        whole += 1
    return (whole * scale) * (1 if value > 0 else -1)


INFINITE_RESULT = "ERR increment would produce NaN or Infinity"


def long_double(text: bytes, error: str = "ERR value is not a valid float",
                infinite: str = INFINITE_RESULT) -> Fraction:
    """strtold of a whole argument (a finite decimal number) as the nearest long double."""
    if _NUMBER.fullmatch(text):
        return _round_mantissa(Fraction(text.decode()))
    hexadecimal = _HEX_NUMBER.fullmatch(text)
    if hexadecimal and (hexadecimal[2] or hexadecimal[3]):
        sign, whole, fraction, exponent = hexadecimal.groups()
        digits = int((whole + fraction).decode() or "0", 16)
        value = Fraction(digits, 16 ** len(fraction)) * Fraction(2) ** int(exponent or b"0")
        return _round_mantissa(-value if sign == b"-" else value)
    if text.lower().lstrip(b"+-") in (b"inf", b"infinity"):
        raise CommandError(infinite)
    raise CommandError(error)


def add_long_doubles(current: Fraction, increment: Fraction) -> bytes:
    """INCRBYFLOAT's sum of two long doubles, as Redis computes and prints it."""
    return _fixed_17(_round_mantissa(current + increment)).encode()


def _fixed_17(value: Fraction) -> str:
    """printf("%.17Lf") of an exact value, trailing zeros (and a bare point) removed."""
    scaled = value * 10**17
    units = scaled.numerator // scaled.denominator
    rest = scaled - units
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and units % 2):
        units += 1
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(18, "0")
    text = f"{sign}{digits[:-17]}.{digits[-17:]}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def long_double_text(value: float) -> bytes:
    """A double printed as Redis's addReplyHumanLongDouble does ("%.17Lf", trailing zeros removed)."""
    return _fixed_17(Fraction(value)).encode()
