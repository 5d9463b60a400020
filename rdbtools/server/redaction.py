"""What Redis hides of a command where it shows it (MONITOR, the slow log): its redactClientCommandArgument
replaces passwords and ACL rules by "(redacted)" while the command parses its arguments."""

from __future__ import annotations

REDACTED = b"(redacted)"
#: CONFIG SET parameters whose values are hidden
SENSITIVE_PARAMETERS = frozenset((b"masterauth", b"masteruser", b"requirepass"))


def redacted(args: list[bytes]) -> list[bytes]:
    """The arguments with AUTH's, HELLO's AUTH, MIGRATE's AUTH/AUTH2, ACL SETUSER's and CONFIG SET's
    sensitive values hidden (an AUTH of too many arguments is refused before it hides anything)."""
    name = args[0].lower()
    if name == b"auth" and len(args) <= 3:
        return [args[0], *[REDACTED] * (len(args) - 1)]
    if name == b"hello":
        return _redact_options(args, 2, {b"auth": 2})
    if name == b"migrate":
        return _redact_options(args, 6, {b"auth": 1, b"auth2": 2}, stop=b"keys")
    if name == b"acl" and len(args) > 2 and args[1].lower() == b"setuser":
        return [*args[:2], *[REDACTED] * (len(args) - 2)]
    if name == b"config" and len(args) > 3 and args[1].lower() == b"set":
        shown = list(args)
        for index in range(2, len(args) - 1, 2):
            if args[index].lower() in SENSITIVE_PARAMETERS:
                shown[index + 1] = REDACTED
        return shown
    return args


def _redact_options(args: list[bytes], start: int, secrets: dict[bytes, int], stop: bytes = b"") -> list[bytes]:
    """Options from ``start`` (up to ``stop``): each of ``secrets`` hides the arguments that follow it (when
    all are there)."""
    shown_args, i = list(args), start
    while i < len(args) and args[i].lower() != stop:
        count = secrets.get(args[i].lower())
        if count is not None and i + count < len(args):
            shown_args[i + 1 : i + 1 + count] = [REDACTED] * count
            i += count
        i += 1
    return shown_args
