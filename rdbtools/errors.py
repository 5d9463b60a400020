"""One exception hierarchy for everything rdbtool reports about a file.

Every error carries where it happened (file, byte offset, key) so that the CLI can print one
located line; nothing below the CLI formats messages for a terminal.
"""

from __future__ import annotations


class RdbtoolError(Exception):
    """Base of every error rdbtool raises on purpose."""

    #: what the user can do about it, appended to the one-line message
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        key: bytes | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.key = key
        self.path = path

    def located(self, *, base: int = 0, key: bytes | None = None, path: str | None = None) -> RdbtoolError:
        """Place an error raised inside an embedded blob into the file that holds it.

        A decoder of a listpack knows offsets relative to the blob; the record reader knows where
        the blob starts and which key it belongs to.
        """
        if self.offset is not None:
            self.offset += base
        elif base:
            self.offset = base
        if key is not None and self.key is None:
            self.key = key
        if path is not None and self.path is None:
            self.path = path
        return self

    def __str__(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path)
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        if self.key is not None:
            parts.append(f"key {format_key(self.key)}")
        where = ", ".join(parts)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class FormatError(RdbtoolError):
    """The bytes do not follow the format: corrupt, truncated or inconsistent data."""

    hint = "the file is corrupt; restore it from another backup"


class Irregularity(FormatError):
    """Data no Redis writes, yet every server's loader takes as it is: a warning, not corruption."""

    hint = "every server loads it as stored"


class TruncatedError(FormatError):
    """The data ends in the middle of a structure."""

    hint = "the file is truncated; was it copied while being written?"


class ChecksumError(FormatError):
    """The CRC64 trailer does not match the content."""


class UnsupportedError(RdbtoolError):
    """Well-formed input that rdbtool does not handle (a newer version, a pre-release module type)."""

    hint = "upgrade rdbtool or report the file's origin"


class TargetError(UnsupportedError):
    """The data cannot be written for the chosen target (a type or feature that server lacks)."""

    hint = "choose a newer --target, --drop what it cannot hold, or filter the keys out"


class InputError(RdbtoolError):
    """The input cannot be opened or read at all (missing file, not a regular file)."""


class ServeProcessError(RdbtoolError):
    """A test's ``rdbtool serve`` (rdbtools.testing) exited or never answered instead of starting, or refused to
    shut down as Redis does (a rewrite that holds the only copy of the data, a final save that failed)."""

    hint = "its log, quoted above, says why"


class MissingDependency(InputError):
    """An optional extra a feature needs is not installed."""

    hint = "install the extra named, or choose another format"


def format_key(key: bytes) -> str:
    """Show a binary-safe key in one line: printable ASCII as is, other bytes escaped."""
    text = repr(key)[2:-1]
    return f"'{text}'" if len(text) <= 200 else f"'{text[:200]}…' ({len(key)} bytes)"


# --- the exceptions of the modules the mypyc build compiles (setup.py) ------------------------------------
# They are defined here, in Python: an exception class compiled by mypyc takes weak references but does
# not clear them when freed, and the process crashes (tests/keyspace/test_compiled_build.py).


class UnknownCommand(RdbtoolError):
    """A command the keyspace engine does not execute."""

    hint = "use --skip-unknown to leave such commands out (they are counted in the report)"


class ProtocolError(Exception):
    """A request Redis would refuse (serve's protocol.py): the error is sent, then the connection closed.
    ``requests``: the complete requests before it, which Redis runs first."""

    def __init__(self, message: str, requests: list[list[bytes]] | None = None) -> None:
        super().__init__(message)
        self.requests = requests or []


class Shutdown(Exception):
    """SHUTDOWN was asked for of serve (and its save, if any, succeeded)."""
