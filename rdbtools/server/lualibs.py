"""The libraries Redis builds into its Lua (cjson, bit, struct, cmsgpack), written in Python for serve:
the behaviour scripts rely on, with the libraries' own error texts.

Each function returns (True, results...) or (False, message); a Lua wrapper raises the message at the
caller's line, as luaL_error does. Tables are walked with lua_next (lupa's items()), so a JSON object
or a msgpack map lists its keys in the order Redis's Lua gives them.
"""

from __future__ import annotations

import math
import re
import struct as pystruct
from collections.abc import Callable

import lupa.lua51 as lua51

from rdbtools.formats.primitives import strtod_prefix

#: luaL_where(L, 1) seen from a Python function Lua called: its caller's "source:line: " (level 1 is
#: this function, 2 the Python function, 3 its caller)
_WHERE = b"""
local getinfo = debug.getinfo
return function()
    local info = getinfo(3, "Sl")
    if info and info.currentline > 0 then return info.short_src .. ":" .. info.currentline .. ": " end
    return ""
end, function()
    local info = getinfo(2, "n")
    return info and info.name or "?"
end
"""
#: luaL_argerror's words: the function named as its caller named it ("?" when called by pcall)
_ARGUMENT_ERROR = re.compile(r"bad argument #(\d+) to '[^']*'")


class LuaRaise(Exception):
    """An error a Python function raises into Lua as Redis's C code raises it: a table with an err
    field (``table``), or a string (luaL_error's, its position included)."""

    def __init__(self, text: bytes, *, table: bool) -> None:
        super().__init__(text.decode("utf-8", "replace"))
        self.text, self.table = text, table


def unwrap(error) -> tuple[bytes | None, bytes | None]:
    """What Lua's error handler and pcall make of an error value that is a LuaRaise."""
    if isinstance(error, LuaRaise):
        return (b"table" if error.table else b"string"), error.text
    return None, None


class LibError(Exception):
    """A library's error (luaL_error's text, without the position Lua adds)."""


def _guarded(function: Callable, where, callee) -> Callable:
    def call(*args):
        try:
            return function(*args)
        except LibError as error:
            text = str(error)
            if text.startswith("bad argument #"):
                text = _ARGUMENT_ERROR.sub(lambda m: f"bad argument #{m.group(1)} to '{_text(callee())}'", text, 1)
            raise LuaRaise(where() + text.encode(), table=False) from None
    return call


def install(lua) -> object:
    """The four libraries as a Lua table {cjson=..., bit=..., struct=..., cmsgpack=...}."""
    null = lua.eval("newproxy(false)")
    is_null = lua.eval("function(null) return function(v) return rawequal(v, null) end end")(null)
    json, msgpack, (where, callee) = _Json(lua, null, is_null), _Msgpack(lua, is_null), load_chunk(lua, _WHERE)()
    libraries = {
        b"bit": {name.encode(): f for name, f in _BIT.items()},
        b"cjson": {b"encode": json.encode, b"decode": json.decode, **json.settings()},
        b"struct": {b"pack": _struct_pack, b"unpack": _struct_unpack, b"size": _struct_size},
        b"cmsgpack": {b"pack": msgpack.pack, b"unpack": msgpack.unpack, b"unpack_one": msgpack.unpack_one,
                      b"unpack_limit": msgpack.unpack_limit},
    }
    tables = {name: lua.table_from({fname: _guarded(f, where, callee) for fname, f in functions.items()})
              for name, functions in libraries.items()}
    tables[b"cjson"][b"null"] = null
    return lua.table_from(tables)


def load_chunk(lua, source: bytes):
    """Our own Lua code as a function (its frames named "=rdbtool", which error positions skip)."""
    chunk = lua.globals().loadstring(source, b"=rdbtool")
    if lua51.lua_type(chunk) != "function":
        raise RuntimeError(f"rdbtool's Lua code does not compile: {chunk!r}")
    return chunk


# --- bit (LuaBitOp) ------------------------------------------------------------------------------

def _number(value, position: int, name: str) -> float:
    if value.__class__ in (int, float):
        return value
    if value.__class__ is bytes:
        try:
            return float(value)
        except ValueError:
            pass
    raise LibError(f"bad argument #{position} to '{name}' (number expected, got {_type_name(value)})")


def _bit(value, position: int = 1, name: str = "tobit") -> int:
    """A number as the 32-bit integer LuaBitOp makes of it (rounded to nearest even, modulo 2^32)."""
    number = round(_number(value, position, name))
    return number & 0xFFFFFFFF


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _fold(name: str, operation: Callable[[int, int], int]) -> Callable:
    def fold(*args):
        result = _bit(args[0] if args else None, 1, name)
        for position, value in enumerate(args[1:], 2):
            result = operation(result, _bit(value, position, name))
        return (_signed(result),)
    return fold


def _shift(name: str, operation: Callable[[int, int], int]) -> Callable:
    def shift(value=None, count=None):
        return (_signed(operation(_bit(value, 1, name), _bit(count, 2, name) & 31)),)
    return shift


def _tohex(value=None, digits=8):
    number = _bit(value, 1, "tohex")
    count = _signed(_bit(digits, 2, "tohex"))
    upper = count < 0
    count = min(abs(count), 8)
    text = "".join("0123456789abcdef"[(number >> (4 * i)) & 15] for i in reversed(range(count)))
    return ((text.upper() if upper else text).encode(),)


def _bswap(value=None):
    number = _bit(value, 1, "bswap")
    return (_signed(int.from_bytes(number.to_bytes(4, "little"), "big")),)


_BIT: dict[str, Callable] = {
    "tobit": lambda value=None: (_signed(_bit(value)),),
    "bnot": lambda value=None: (_signed(~_bit(value, 1, "bnot")),),
    "band": _fold("band", lambda a, b: a & b),
    "bor": _fold("bor", lambda a, b: a | b),
    "bxor": _fold("bxor", lambda a, b: a ^ b),
    "lshift": _shift("lshift", lambda a, n: a << n),
    "rshift": _shift("rshift", lambda a, n: a >> n),
    "arshift": _shift("arshift", lambda a, n: _signed(a) >> n),
    "rol": _shift("rol", lambda a, n: (a << n) | (a >> (32 - n))),
    "ror": _shift("ror", lambda a, n: (a >> n) | (a << (32 - n))),
    "bswap": _bswap,
    "tohex": _tohex,
}


# --- cjson (lua-cjson 2.1 with Redis's defaults) -------------------------------------------------

_ESCAPES = {i: b"\\u%04x" % i for i in range(32)}
_ESCAPES.update({8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r", 34: b'\\"', 47: b"\\/", 92: b"\\\\",
                 127: b"\\u007f"})
_ESCAPED = re.compile(rb'[\x00-\x1f"/\\\x7f]')
_MAX_DEPTH = 1000


_INT_MAX = 2**31 - 1


class _Json:
    def __init__(self, lua, null, is_null) -> None:
        self.lua, self.null, self.is_null = lua, null, is_null
        #: lua-cjson's configuration (its cjson.encode_max_depth() and the like), per Lua state
        self.encode_max_depth = self.decode_max_depth = _MAX_DEPTH
        self.precision, self.keep_buffer = 14, 1
        self.sparse_convert, self.sparse_ratio, self.sparse_safe = 0, 2, 10
        self.encode_invalid, self.decode_invalid = 0, 1

    def settings(self) -> dict[bytes, Callable]:
        """cjson's configuration functions: each sets what it is given and returns what is set."""
        def integer(name: str, attribute: str, low: int, high: int) -> Callable:
            def option(*args):
                _arguments(name, args, 1)
                return (_integer_option(self, attribute, args[0] if args else None, name, low, high),)
            return option

        def enum(name: str, attribute: str, options: tuple[bytes, ...] = (b"off", b"on")) -> Callable:
            def option(*args):
                _arguments(name, args, 1)
                return (_enum_option(self, attribute, args[0] if args else None, name, options),)
            return option

        def sparse(*args):
            _arguments("encode_sparse_array", args, 3)
            args = (*args, None, None, None)
            return (_enum_option(self, "sparse_convert", args[0], "encode_sparse_array", (b"off", b"on")),
                    _integer_option(self, "sparse_ratio", args[1], "encode_sparse_array", 0, _INT_MAX, 2),
                    _integer_option(self, "sparse_safe", args[2], "encode_sparse_array", 0, _INT_MAX, 3))

        return {b"encode_max_depth": integer("encode_max_depth", "encode_max_depth", 1, _INT_MAX),
                b"decode_max_depth": integer("decode_max_depth", "decode_max_depth", 1, _INT_MAX),
                b"encode_number_precision": integer("encode_number_precision", "precision", 1, 14),
                b"encode_keep_buffer": enum("encode_keep_buffer", "keep_buffer"),
                b"encode_invalid_numbers": enum("encode_invalid_numbers", "encode_invalid", (b"off", b"on", b"null")),
                b"decode_invalid_numbers": enum("decode_invalid_numbers", "decode_invalid"),
                b"encode_sparse_array": sparse}

    # encode
    def encode(self, *args):
        if len(args) != 1:
            raise LibError("bad argument #1 to 'encode' (expected 1 argument)")
        out: list[bytes] = []
        self._value(args[0], out, 0)
        return (b"".join(out),)

    def _value(self, value, out: list[bytes], depth: int) -> None:
        kind = value.__class__
        if kind is bytes:
            out.append(_json_string(value))
        elif kind is bool:
            out.append(b"true" if value else b"false")
        elif kind in (int, float):
            out.append(self._number(value))
        elif value is None or self.is_null(value):
            out.append(b"null")
        elif lua51.lua_type(value) == "table":
            self._table(value, out, depth + 1)
        else:
            raise LibError(f"Cannot serialise {_type_name(value)}: type not supported")

    def _number(self, value) -> bytes:
        """json_append_number: NaN and Inf refused, written or null as encode_invalid_numbers says."""
        if value.__class__ is float and not math.isfinite(value):
            if self.encode_invalid == 0:
                raise LibError("Cannot serialise number: must not be NaN or Inf")
            if self.encode_invalid == 2:
                return b"null"
            return b"nan" if math.isnan(value) else b"%g" % value
        return _number_text(value) if self.precision == 14 else b"%.*g" % (self.precision, value)

    def _table(self, table, out: list[bytes], depth: int) -> None:
        if depth > self.encode_max_depth:
            raise LibError(f"Cannot serialise, excessive nesting ({depth})")
        items = list(table.items())
        length = _array_length(items, self)
        if length > 0:
            values = dict(items)
            out.append(b"[")
            for index in range(1, length + 1):
                if index > 1:
                    out.append(b",")
                self._value(values.get(index), out, depth)
            out.append(b"]")
            return
        out.append(b"{")
        for position, (key, value) in enumerate(items):
            if position:
                out.append(b",")
            if key.__class__ is bytes:
                out.append(_json_string(key))
            elif key.__class__ in (int, float):
                out.append(b'"' + self._number(key) + b'"')
            else:
                raise LibError("Cannot serialise table: table key must be a number or string")
            out.append(b":")
            self._value(value, out, depth)
        out.append(b"}")

    # decode
    def decode(self, *args):
        if len(args) != 1:
            raise LibError("bad argument #1 to 'decode' (expected 1 argument)")
        text = args[0] if args[0].__class__ is bytes else _number_text(args[0])
        parser = _JsonParser(text.split(b"\0", 1)[0], self)
        value = parser.value(parser.token())
        token = parser.token()
        if token[0] != "T_END":
            parser.fail("the end", token)
        return (value,)


def _array_length(items: list, json: _Json) -> int:
    """lua-cjson's array test: all keys positive integers and not too sparse (as encode_sparse_array
    says); -1 for an object."""
    highest = 0
    for key, _ in items:
        if key.__class__ is bool or key.__class__ not in (int, float) or key < 1 or key != math.floor(key):
            return -1
        highest = max(highest, int(key))
    if json.sparse_ratio > 0 and highest > len(items) * json.sparse_ratio and highest > json.sparse_safe:
        if not json.sparse_convert:
            raise LibError("Cannot serialise table: excessively sparse array")
        return -1
    return highest


def _arguments(name: str, args: tuple, most: int) -> None:
    """json_arg_init: no more arguments than the option takes."""
    if len(args) > most:
        raise LibError(f"bad argument #{most + 1} to '{name}' (found too many arguments)")


def _integer_option(json: _Json, attribute: str, value, name: str, low: int, high: int, position: int = 1) -> int:
    """json_integer_option: a number in range sets the option (nil keeps it); the option's value."""
    if value is not None:
        if value.__class__ not in (int, float):
            number = _lua_tonumber(value)
            if number is None:
                raise LibError(f"bad argument #{position} to '{name}' (number expected, got {_type_name(value)})")
            value = number
        value = round(value)
        if not low <= value <= high:
            raise LibError(f"bad argument #1 to '{name}' (expected integer between {low} and {high})")
        setattr(json, attribute, value)
    return getattr(json, attribute)


def _enum_option(json: _Json, attribute: str, value, name: str, options: tuple[bytes, ...]):
    """json_enum_option: a boolean or one of the options' names sets it (nil keeps it); returned as a
    boolean while it is off or on, else as its name."""
    if value is not None:
        if value.__class__ is bool:
            setattr(json, attribute, int(value))
        elif value.__class__ is bytes and value in options:
            setattr(json, attribute, options.index(value))
        else:
            shown = _text(value) if value.__class__ is bytes else _text(_number_text(value)) if (
                value.__class__ in (int, float)) else None
            if shown is None:
                raise LibError(f"bad argument #1 to '{name}' (string expected, got {_type_name(value)})")
            raise LibError(f"bad argument #1 to '{name}' (invalid option '{shown}')")
    setting = getattr(json, attribute)
    return bool(setting) if setting in (0, 1) else options[setting]


def _lua_tonumber(value) -> float | None:
    if value.__class__ is not bytes:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _json_string(value: bytes) -> bytes:
    return b'"' + _ESCAPED.sub(lambda m: _ESCAPES[m.group()[0]], value) + b'"'


_STRUCTURE = {ord("{"): "T_OBJ_BEGIN", ord("}"): "T_OBJ_END", ord("["): "T_ARR_BEGIN", ord("]"): "T_ARR_END",
              ord(":"): "T_COLON", ord(","): "T_COMMA"}
_UNESCAPE = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n",
             ord("r"): b"\r", ord("t"): b"\t"}


class _JsonParser:
    """lua-cjson's tokenizer and parser: the same tokens, positions and error texts."""

    def __init__(self, data: bytes, json: _Json) -> None:
        self.data, self.pos, self.depth, self.json = data, 0, 0, json

    def fail(self, expected: str, token) -> None:
        raise LibError(f"Expected {expected} but found {token[1] if token[0] == 'T_ERROR' else token[0]} "
                       f"at character {token[2] + 1}")

    def token(self):
        data = self.data
        while self.pos < len(data) and data[self.pos] in b" \t\r\n":
            self.pos += 1
        start = self.pos
        if start >= len(data):
            return ("T_END", None, start)
        ch = data[start]
        if ch in _STRUCTURE:
            self.pos += 1
            return (_STRUCTURE[ch], None, start)
        if ch == 0x22:
            return self._string(start)
        if ch == 0x2D or 0x30 <= ch <= 0x39:
            return self._number(start)
        for word, kind, value in ((b"true", "T_BOOLEAN", True), (b"false", "T_BOOLEAN", False),
                                  (b"null", "T_NULL", None)):
            if data.startswith(word, start):
                self.pos += len(word)
                return (kind, value, start)
        if ch == 0x2B or data[start : start + 3].lower() in (b"inf", b"nan"):  # strtod takes them (Redis's
            return self._number(start)  # cjson decodes "invalid" numbers)
        return ("T_ERROR", "invalid token", start)

    def _string(self, start: int):
        data, pos, out = self.data, start + 1, bytearray()
        while True:
            if pos >= len(data):
                self.pos = pos
                return ("T_ERROR", "unexpected end of string", pos)
            ch = data[pos]
            if ch == 0x22:
                self.pos = pos + 1
                return ("T_STRING", bytes(out), start)
            if ch == 0x5C:
                following = data[pos + 1] if pos + 1 < len(data) else 0
                if following == ord("u"):
                    decoded, pos = _unicode_escape(data, pos)
                    if decoded is None:
                        self.pos = pos
                        return ("T_ERROR", "invalid unicode escape code", pos)
                    out += decoded
                    continue
                if following not in _UNESCAPE:
                    self.pos = pos
                    return ("T_ERROR", "invalid escape code", pos)
                out += _UNESCAPE[following]
                pos += 2
                continue
            out.append(ch)
            pos += 1

    def _number(self, start: int):
        found = strtod_prefix(self.data, start)
        if found is None:
            return ("T_ERROR", "invalid number", start)
        number, self.pos = found
        return ("T_NUMBER", int(number) if number.is_integer() and abs(number) < 2**63 else number, start)

    def value(self, token):
        kind = token[0]
        if kind in ("T_STRING", "T_NUMBER", "T_BOOLEAN"):
            return token[1]
        if kind == "T_NULL":
            return self.json.null
        if kind == "T_OBJ_BEGIN":
            return self._object()
        if kind == "T_ARR_BEGIN":
            return self._array()
        self.fail("value", token)

    def _descend(self) -> None:
        self.depth += 1
        if self.depth > self.json.decode_max_depth:
            raise LibError(f"Found too many nested data structures ({self.depth}) at character {self.pos}")

    def _object(self):
        self._descend()
        table = self.json.lua.table()
        token = self.token()
        if token[0] == "T_OBJ_END":
            self.depth -= 1
            return table
        while True:
            if token[0] != "T_STRING":
                self.fail("object key string", token)
            key = token[1]
            token = self.token()
            if token[0] != "T_COLON":
                self.fail("colon", token)
            table[key] = self.value(self.token())
            token = self.token()
            if token[0] == "T_OBJ_END":
                self.depth -= 1
                return table
            if token[0] != "T_COMMA":
                self.fail("comma or object end", token)
            token = self.token()

    def _array(self):
        self._descend()
        table = self.json.lua.table()
        token = self.token()
        if token[0] == "T_ARR_END":
            self.depth -= 1
            return table
        index = 1
        while True:
            table[index] = self.value(token)
            index += 1
            token = self.token()
            if token[0] == "T_ARR_END":
                self.depth -= 1
                return table
            if token[0] != "T_COMMA":
                self.fail("comma or array end", token)
            token = self.token()


def _unicode_escape(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """A \\uXXXX escape (a surrogate pair with the one after it) as UTF-8, and where the string goes on."""
    def hex4(at: int) -> int | None:
        digits = data[at : at + 4]
        return int(digits, 16) if len(digits) == 4 and re.fullmatch(rb"[0-9a-fA-F]{4}", digits) else None

    code = hex4(pos + 2)
    if code is None:
        return None, pos
    end = pos + 6
    if 0xDC00 <= code <= 0xDFFF:
        return None, pos
    if 0xD800 <= code <= 0xDBFF:
        low = hex4(pos + 8) if data[pos + 6 : pos + 8] == b"\\u" else None
        if low is None or not 0xDC00 <= low <= 0xDFFF:
            return None, pos
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        end = pos + 12
    return chr(code).encode("utf-8", "surrogatepass"), end


# --- struct (Roberto Ierusalimschy's struct library) ----------------------------------------------

_STRUCT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "i": 4, "I": 4, "f": 4, "d": 8}


def _struct_items(fmt: bytes):
    """(option, size, little endian) for each item of a format, alignment ('!') ignored."""
    little, i, text = True, 0, fmt.decode("latin-1")
    while i < len(text):
        option = text[i]
        i += 1
        digits = re.match(r"\d*", text[i:]).group()  # type: ignore[union-attr]  # \d* matches every string
        i += len(digits)
        if option in " ":
            continue
        if option in "<>=":
            little = option != ">"
            continue
        if option == "!":
            continue
        if option in "iI":
            size = int(digits) if digits else 4
            if not 1 <= size <= 8:
                raise LibError(f"integral size {size} is larger than limit of 8" if size > 8
                               else "integral size out of limits")
            yield option, size, little
        elif option in "cs":
            yield option, int(digits) if digits else (1 if option == "c" else 0), little
        elif option in _STRUCT_SIZES or option == "x":
            yield option, _STRUCT_SIZES.get(option, 1), little
        else:
            raise LibError(f"bad argument #1 to '?' (invalid format option '{option}')")  # (named as called)


def _struct_pack(fmt=None, *values):
    fmt = _number_text(fmt) if fmt.__class__ in (int, float) else fmt  # (luaL_checklstring takes a number)
    if fmt.__class__ is not bytes:
        raise LibError(f"bad argument #1 to 'pack' (string expected, got {_type_name(fmt)})")
    out, index = bytearray(), 0
    for option, size, little in _struct_items(fmt):
        if option == "x":
            out.append(0)
            continue
        value = values[index] if index < len(values) else None
        index += 1
        if option in "bBhHlLTiI":
            number = int(_number(value, index + 1, "pack"))
            out += (number & ((1 << (8 * size)) - 1)).to_bytes(size, "little" if little else "big")
        elif option in "fd":
            out += pystruct.pack(("<" if little else ">") + option, _number(value, index + 1, "pack"))
        elif option == "c":
            data = value if value.__class__ is bytes else _number_text(value)
            if size == 0:
                size = len(data)
            if len(data) < size:
                raise LibError(f"bad argument #{index + 1} to 'pack' (string too short)")
            out += data[:size]
        else:  # s: zero-terminated
            data = value if value.__class__ is bytes else _number_text(value)
            if b"\0" in data:
                raise LibError(f"bad argument #{index + 1} to 'pack' (string contains zeros)")
            out += data + b"\0"
    return (bytes(out),)


def _struct_unpack(fmt=None, data=None, start=1):
    fmt = _number_text(fmt) if fmt.__class__ in (int, float) else fmt
    data = _number_text(data) if data.__class__ in (int, float) else data
    if fmt.__class__ is not bytes:
        raise LibError(f"bad argument #1 to 'unpack' (string expected, got {_type_name(fmt)})")
    if data.__class__ is not bytes:
        raise LibError(f"bad argument #2 to 'unpack' (string expected, got {_type_name(data)})")
    pos = int(start) - 1
    results: list[int | float | bytes] = []
    if pos < 0:
        raise LibError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
    for option, size, little in _struct_items(fmt):
        if option == "c" and size == 0:
            if not results or results[-1].__class__ not in (int, float):
                raise LibError("bad argument #1 to 'unpack' (format 'c0' needs a previous size)")
            size = int(results.pop())
        if option != "s" and pos + size > len(data):
            raise LibError("bad argument #2 to 'unpack' (data string too short)")
        chunk = data[pos : pos + size]
        if option in "bhliBHLTI":
            number = int.from_bytes(chunk, "little" if little else "big", signed=option in "bhli")
            results.append(number)
        elif option in "fd":
            results.append(pystruct.unpack(("<" if little else ">") + option, chunk)[0])
        elif option == "c":
            results.append(chunk)
        elif option == "s":
            end = data.find(b"\0", pos)
            if end < 0:
                raise LibError("bad argument #2 to 'unpack' (unfinished string in data)")
            results.append(data[pos:end])
            size = end - pos + 1
        pos += size
    return (*results, pos + 1)


def _struct_size(fmt=None):
    total = 0
    for option, size, _ in _struct_items(fmt if fmt.__class__ is bytes else b""):
        if option == "s" or (option == "c" and size == 0):
            raise LibError(f"bad argument #1 to 'size' (option '{'s' if option == 's' else 'c0'}' has no fixed size)")
        total += size
    return (total,)


# --- cmsgpack (lua_cmsgpack) ---------------------------------------------------------------------

class _Msgpack:
    def __init__(self, lua, is_null) -> None:
        self.lua, self.is_null = lua, is_null

    def pack(self, *values):
        if not values:
            raise LibError("MessagePack pack needs input.")
        out = bytearray()
        for value in values:
            self._pack(value, out, 0)
        return (bytes(out),)

    def _pack(self, value, out: bytearray, depth: int) -> None:
        kind = value.__class__
        if kind is bytes:
            _pack_bytes(value, out)
        elif kind is bool:
            out.append(0xC3 if value else 0xC2)
        elif kind is int or (kind is float and value.is_integer() and abs(value) < 2**63):
            _pack_int(int(value), out)
        elif kind is float:
            if pystruct.unpack("<f", pystruct.pack("<f", value))[0] == value or not math.isfinite(value):
                out += b"\xca" + pystruct.pack(">f", value)
            else:
                out += b"\xcb" + pystruct.pack(">d", value)
        elif value is not None and lua51.lua_type(value) == "table" and depth < 16:
            items = list(value.items())
            count = len(items)
            if count and all(k.__class__ in (int, float) and k.__class__ is not bool for k, _ in items) and \
                    sorted(k for k, _ in items) == list(range(1, count + 1)):
                _pack_header(count, out, 0x90, 0xDC)
                values = dict(items)
                for index in range(1, count + 1):
                    self._pack(values[index], out, depth + 1)
            else:
                _pack_header(count, out, 0x80, 0xDE)
                for key, item in items:
                    self._pack(key, out, depth + 1)
                    self._pack(item, out, depth + 1)
        else:
            out.append(0xC0)

    def unpack(self, *args):
        return self._unpack_full(args, 0, 0)

    def unpack_one(self, *args):
        """unpack_one(data [, offset]): the offset after the first value (-1 at the end), and the value."""
        return self._unpack_full(args, 1, _optional_integer(args, 1, 0))

    def unpack_limit(self, *args):
        """unpack_limit(data, limit [, offset]): as unpack_one, for up to limit values."""
        return self._unpack_full(args, _optional_integer(args, 1, None), _optional_integer(args, 2, 0))

    def _unpack_full(self, args: tuple, limit: int, offset: int) -> tuple:
        """mp_unpack_full: every value (no limit nor offset), or the next offset and up to limit values."""
        if not args or args[0].__class__ not in (bytes, int, float):
            raise LibError(f"bad argument #1 to '?' (string expected, got {_type_name(args[0] if args else _NONE)})")
        data = args[0] if args[0].__class__ is bytes else _number_text(args[0])
        if offset < 0 or limit < 0:
            raise LibError(f"Invalid request to unpack with offset of {offset} and limit of {len(data)}.")
        if offset > len(data):
            raise LibError(f"Start offset {offset} greater than input length {len(data)}.")
        whole = not limit and not offset
        results: list[object] = []
        pos = offset
        while pos < len(data) and (whole or len(results) < limit):
            value, pos = self._unpack(data, pos)
            results.append(value)
        return tuple(results) if whole else (-1 if pos >= len(data) else pos, *results)

    def _unpack(self, data: bytes, pos: int):
        try:
            return self._decode(data, pos)
        except (IndexError, pystruct.error):
            raise LibError("Missing bytes in input.") from None

    def _decode(self, data: bytes, pos: int):
        tag = data[pos]
        pos += 1
        if tag <= 0x7F:
            return tag, pos
        if tag >= 0xE0:
            return tag - 0x100, pos
        if 0xA0 <= tag <= 0xBF:
            return _slice(data, pos, tag & 0x1F)
        if 0x90 <= tag <= 0x9F:
            return self._array(data, pos, tag & 0x0F)
        if 0x80 <= tag <= 0x8F:
            return self._map(data, pos, tag & 0x0F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if tag in simple:
            return simple[tag], pos
        if tag in _FIXED:
            form, size = _FIXED[tag]
            if len(data) < pos + size:
                raise IndexError
            return pystruct.unpack(form, data[pos : pos + size])[0], pos + size
        if tag in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
            size = (1, 2, 4)[(tag - 0xD9) if tag >= 0xD9 else (tag - 0xC4)]
            return _slice(data, pos + size, int.from_bytes(data[pos : pos + size], "big"))
        if tag in (0xDC, 0xDD):
            size = 2 if tag == 0xDC else 4
            return self._array(data, pos + size, int.from_bytes(data[pos : pos + size], "big"))
        if tag in (0xDE, 0xDF):
            size = 2 if tag == 0xDE else 4
            return self._map(data, pos + size, int.from_bytes(data[pos : pos + size], "big"))
        raise LibError("Bad data format in input.")

    def _array(self, data: bytes, pos: int, count: int):
        table = self.lua.table()
        for index in range(1, count + 1):
            table[index], pos = self._decode(data, pos)
        return table, pos

    def _map(self, data: bytes, pos: int, count: int):
        table = self.lua.table()
        for _ in range(count):
            key, pos = self._decode(data, pos)
            value, pos = self._decode(data, pos)
            if key is not None:
                table[key] = value
        return table, pos


_FIXED = {0xCA: (">f", 4), 0xCB: (">d", 8), 0xCC: (">B", 1), 0xCD: (">H", 2), 0xCE: (">I", 4), 0xCF: (">Q", 8),
          0xD0: (">b", 1), 0xD1: (">h", 2), 0xD2: (">i", 4), 0xD3: (">q", 8)}


def _slice(data: bytes, pos: int, size: int):
    if len(data) < pos + size:
        raise IndexError
    return data[pos : pos + size], pos + size


def _pack_bytes(value: bytes, out: bytearray) -> None:
    size = len(value)
    if size < 32:
        out.append(0xA0 | size)
    elif size <= 0xFF:
        out += b"\xd9" + bytes([size])
    elif size <= 0xFFFF:
        out += b"\xda" + size.to_bytes(2, "big")
    else:
        out += b"\xdb" + size.to_bytes(4, "big")
    out += value


def _pack_int(value: int, out: bytearray) -> None:
    if value >= 0:
        if value <= 127:
            out.append(value)
        elif value <= 0xFF:
            out += b"\xcc" + value.to_bytes(1, "big")
        elif value <= 0xFFFF:
            out += b"\xcd" + value.to_bytes(2, "big")
        elif value <= 0xFFFFFFFF:
            out += b"\xce" + value.to_bytes(4, "big")
        else:
            out += b"\xcf" + (value & (2**64 - 1)).to_bytes(8, "big")
    elif value >= -32:
        out += pystruct.pack(">b", value)
    elif value >= -128:
        out += b"\xd0" + pystruct.pack(">b", value)
    elif value >= -32768:
        out += b"\xd1" + pystruct.pack(">h", value)
    elif value >= -(2**31):
        out += b"\xd2" + pystruct.pack(">i", value)
    else:
        out += b"\xd3" + pystruct.pack(">q", max(value, -(2**63)))


def _pack_header(count: int, out: bytearray, small: int, big: int) -> None:
    if count <= 15:
        out.append(small | count)
    elif count <= 0xFFFF:
        out += bytes([big]) + count.to_bytes(2, "big")
    else:
        out += bytes([big + 1]) + count.to_bytes(4, "big")


# --- shared -------------------------------------------------------------------------------------

def _number_text(value) -> bytes:
    """A Lua number as Lua prints it ("%.14g")."""
    return b"%.14g" % value


def _type_name(value) -> str:
    if value is _NONE:
        return "no value"
    if value is None:
        return "nil"
    if value.__class__ is bool:
        return "boolean"
    if value.__class__ in (int, float):
        return "number"
    if value.__class__ is bytes:
        return "string"
    return lua51.lua_type(value) or "userdata"


_NONE = object()  # an argument not given (luaL_typename's "no value")


def _optional_integer(args: tuple, index: int, default: int | None) -> int:
    """luaL_optinteger / luaL_checkinteger (default None) of the argument at index (0-based)."""
    value = args[index] if index < len(args) else None
    if value is None and default is not None:
        return default
    number = value if value.__class__ in (int, float) else _lua_tonumber(value)
    if number is None or value.__class__ is bool:
        got = _type_name(value if index < len(args) else _NONE)
        raise LibError(f"bad argument #{index + 1} to '?' (number expected, got {got})")
    return round(number)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if value.__class__ is bytes else str(value)
