"""RESP without I/O: requests from bytes (behind Redis's limits) and replies to bytes.

The limits are checked on the headers as they arrive, before anything is buffered for a request:
a multibulk count above 1M, a bulk length above proto-max-bulk-len, a header line that never ends,
an inline request over 64 KB. Each is Redis's protocol error, after which the connection is closed.
"""

from __future__ import annotations

from typing import Any, Final

from rdbtools.errors import ProtocolError  # (Python: see errors.py)
from rdbtools.formats import accelerated
from rdbtools.formats.manifest import split_args
from rdbtools.formats.numbers import python_canonical_int64
from rdbtools.keyspace.commands import NULL_ARRAY, CommandError, Double, Map, Status, format_double
from rdbtools.keyspace.reply_types import Push, Replies, SetReply  # Python in the compiled build (built-in subclasses)

MAX_MULTIBULK: Final = 1024 * 1024
MAX_INLINE: Final = 64 * 1024  # PROTO_INLINE_MAX_SIZE


class RequestParser:
    """Feed bytes, get complete requests (lists of bytes); ProtocolError for a broken stream."""

    def __init__(self, max_bulk: int = 512 * 1024 * 1024) -> None:
        self.max_bulk = max_bulk
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received and not yet part of a complete request (the query buffer)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[list[bytes]]:
        # a read of whole requests (the usual one) is parsed where it is; only what is left is kept
        buffer: bytes | bytearray = data
        if self._buffer:
            self._buffer += data
            buffer = self._buffer
        requests: list[list[bytes]] = []
        pos, error = 0, None
        while pos < len(buffer) and error is None:
            if buffer[pos] == 0x2A:  # '*': RESP
                end, error = requests_take(buffer, pos, self.max_bulk, MAX_MULTIBULK, MAX_INLINE, requests)
                if end == pos:
                    break
                pos = end
                continue
            end = buffer.find(b"\n", pos)
            if end < 0:
                if len(buffer) - pos > MAX_INLINE:
                    error = "ERR Protocol error: too big inline request"
                break
            words, error = _inline(bytes(buffer[pos:end]).rstrip(b"\r"))
            if words:
                requests.append(words)
            pos = end + 1
        if buffer is self._buffer:
            del self._buffer[:pos]
        elif pos < len(buffer):
            self._buffer += buffer[pos:]
        if error is not None:
            raise ProtocolError(error, requests)
        return requests


def python_requests_take(buffer: bytes | bytearray, pos: int, max_bulk: int, max_multibulk: int, max_header: int,
                         out: list[list[bytes]]) -> tuple[int, str | None]:
    """The complete RESP requests from ``pos`` appended to ``out`` (a count below 1 is none, as Redis skips
    it), stopping before an incomplete request or an inline one, or at a header beyond Redis's limits (its
    protocol error, checked header by header before anything is buffered for the request), with the end
    reached. _speedups.requests_take is the compiled twin."""
    with memoryview(buffer) as view:
        while pos < len(buffer) and buffer[pos] == 0x2A:
            try:
                taken = _take_request(buffer, view, pos, max_bulk, max_multibulk, max_header)
            except ProtocolError as error:
                return pos, str(error)
            if taken is None:
                break
            request, pos = taken
            if request:
                out.append(request)
    return pos, None


def _take_request(buffer: bytes | bytearray, view: memoryview, pos: int, max_bulk: int, max_multibulk: int,
                  max_header: int) -> tuple[list[bytes], int] | None:
    """One request at ``pos`` and the position past it; its arguments are copied once, through ``view``."""
    count, pos = _header(buffer, pos, max_multibulk, max_header, bulk=False)
    if count is None:
        return None
    request = []
    for _ in range(count):
        if pos >= len(buffer):
            return None
        if buffer[pos] != 0x24:  # '$'
            raise ProtocolError(f"ERR Protocol error: expected '$', got '{chr(buffer[pos])}'")
        length, pos = _header(buffer, pos, max_bulk, max_header, bulk=True)
        if length is None or pos + length + 2 > len(buffer):
            return None
        request.append(bytes(view[pos : pos + length]))
        pos += length + 2
    return request, pos


def _header(buffer: bytes | bytearray, pos: int, limit: int, max_header: int, *, bulk: bool) -> tuple[int | None, int]:
    end = buffer.find(b"\r\n", pos, pos + max_header)
    if end < 0:
        if len(buffer) - pos > max_header:
            raise ProtocolError(f"ERR Protocol error: too big {'bulk' if bulk else 'mbulk'} count string")
        return None, pos
    text = bytes(buffer[pos + 1 : end])
    value = python_canonical_int64(text)  # Redis's string2ll (the twin's own: the accelerator's is in C)
    if value is None or value > limit or (bulk and value < 0):
        raise ProtocolError(f"ERR Protocol error: invalid {'bulk' if bulk else 'multibulk'} length")
    return max(value, 0), end + 2


requests_take: Final = accelerated("requests_take") or python_requests_take


def _inline(line: bytes) -> tuple[list[bytes], str | None]:
    try:
        return [w.encode("latin-1") for w in split_args(line.decode("latin-1"))], None
    except ValueError:
        return [], "ERR Protocol error: unbalanced quotes in request"


# --- replies ---------------------------------------------------------------------------------------


class BigNumber:
    """A big number reply (a script's {big_number=...}): RESP3 '(' type, a bulk string in RESP2."""

    __slots__ = ("digits",)

    def __init__(self, digits: bytes) -> None:
        self.digits = digits


class Attributed:
    """A reply preceded, in RESP3, by an attribute map ('|' type); RESP2 sends the reply alone."""

    __slots__ = ("attributes", "reply")

    def __init__(self, attributes: Map, reply: object) -> None:
        self.attributes, self.reply = attributes, reply


class Verbatim:
    """A verbatim string reply (a script's {verbatim_string=...}): RESP3 '=' type, a bulk string in RESP2."""

    __slots__ = ("format", "text")

    def __init__(self, text: bytes, form: bytes) -> None:
        self.text, self.format = text, form


class Raw:
    """Bytes sent as they are, whatever the protocol (a tracking flush's null is the tracking client's
    protocol's, even when it reaches a redirection speaking the other)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def encode(reply: object, resp3: bool = False) -> bytes:
    out: list[bytes] = []
    encode_into(reply, resp3, out)
    return b"".join(out)


def python_encode_bulks(items: list) -> bytes | None:
    """A RESP array of bulk strings, None when an item is not exactly bytes (_speedups.encode_bulks
    is the compiled twin)."""
    if not all(item.__class__ is bytes for item in items):
        return None
    return b"*%d\r\n" % len(items) + b"".join([b"$%d\r\n%s\r\n" % (len(item), item) for item in items])


encode_bulks: Final = accelerated("encode_bulks") or python_encode_bulks
_STATUS_LINES: Final[dict[str, bytes]] = {}


def python_int_line(marker: int, number: int) -> bytes:
    """A RESP line of a number: an integer reply (``:``), a bulk or array header (``$``, ``*``).
    _speedups.int_line is the compiled twin (a reply's line past the shared ones)."""
    return b"%c%d\r\n" % (marker, number)


int_line: Final = accelerated("int_line") or python_int_line

#: shared encodings, as Redis keeps shared integers and headers: an integer reply below this, and the header
#: of a bulk string shorter than this, are taken from a table instead of formatted
SHARED: Final = 1024
_INTEGER_LINES: Final = [b":%d\r\n" % number for number in range(SHARED)]
_BULK_HEADERS: Final = [b"$%d\r\n" % length for length in range(SHARED)]


def encode_into(reply: Any, resp3: bool, out: list[bytes]) -> None:
    """Append a reply's encoding to ``out`` (a batch of replies written at once). ``reply`` is Any: the common
    kinds are told by their exact class first, which mypy does not narrow on."""
    kind = reply.__class__
    if kind is bytes:  # the most common replies first; the batch is joined once, so no bytes are copied here
        length = len(reply)
        out.append(_BULK_HEADERS[length] if length < SHARED else int_line(0x24, length))
        out.append(reply)
        out.append(b"\r\n")
    elif kind is int:
        out.append(_INTEGER_LINES[reply] if 0 <= reply < SHARED else int_line(0x3A, reply))
    elif kind is Status:  # (a class of an uncompiled module: looked up by name, so after int)
        line = _STATUS_LINES.get(reply)
        if line is None:
            line = b"+" + reply.encode() + b"\r\n"
            if len(_STATUS_LINES) < 64:
                _STATUS_LINES[reply] = line
        out.append(line)
    elif kind is list and reply and (array := encode_bulks(reply)) is not None:  # LRANGE, SMEMBERS ...
        out.append(array)
    elif reply is None or reply is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n" if reply is NULL_ARRAY else b"$-1\r\n")
    elif isinstance(reply, bytes):
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
    elif isinstance(reply, bool):
        out.append((b"#t\r\n" if reply else b"#f\r\n") if resp3 else b":%d\r\n" % reply)
    elif isinstance(reply, int):
        out.append(b":%d\r\n" % reply)
    elif isinstance(reply, Status):
        out.append(b"+" + reply.encode() + b"\r\n")
    elif isinstance(reply, CommandError):
        out.append(b"-" + str(reply).encode("utf-8", "replace").replace(b"\r\n", b"  ") + b"\r\n")
    elif isinstance(reply, Double):
        text = getattr(reply, "text", None) or format_double(reply)
        out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif isinstance(reply, Map):
        out.append(b"%%%d\r\n" % len(reply) if resp3 else b"*%d\r\n" % (2 * len(reply)))
        for name, value in reply.items():
            encode_into(name, resp3, out)
            encode_into(value, resp3, out)
    elif isinstance(reply, Replies):
        for item in reply:
            encode_into(item, resp3, out)
    elif isinstance(reply, list | tuple):
        kind = b"*" if not resp3 else b">" if isinstance(reply, Push) else b"~" if isinstance(reply, SetReply) else b"*"
        out.append(kind + b"%d\r\n" % len(reply))
        for item in reply:
            encode_into(item, resp3, out)
    elif isinstance(reply, str):
        data = reply.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif isinstance(reply, BigNumber):
        digits = reply.digits
        out.append(b"(%s\r\n" % digits if resp3 else b"$%d\r\n%s\r\n" % (len(digits), digits))
    elif isinstance(reply, Attributed):
        if resp3:
            out.append(b"|%d\r\n" % len(reply.attributes))
            for name, value in reply.attributes.items():
                encode_into(name, resp3, out)
                encode_into(value, resp3, out)
        encode_into(reply.reply, resp3, out)
    elif isinstance(reply, Verbatim):
        text = reply.text
        if resp3:
            form = (reply.format[:3] + b"   ")[:3]
            out.append(b"=%d\r\n%s:%s\r\n" % (len(text) + 4, form, text))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif isinstance(reply, Raw):
        out.append(reply.data)
    else:
        raise TypeError(f"no RESP form for {type(reply).__name__}")
