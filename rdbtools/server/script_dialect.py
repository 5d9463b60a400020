"""What scripting says and does differently per target: one object per Lua state, chosen once.

Redis 7.0 on (eval.c, script_lua.c) raises redis.call's errors as tables with an err field, and EVAL
answers the error with its place after it ("... script: <sha>, on @user_script:1."). Redis 6.2
(scripting.c) raised them as strings: a refusal of redis.call's checks placed before the text at the
caller's line by luaPushError ("@user_script: 1: ..."), a command's error as its bare text; its error
handler (a Lua function, __redis__err__handler) put the place of the error before it, and EVAL answered
"Error running script (call to f_<sha>): ...". 6.2 had no shebang, no RESP3 big number or verbatim
replies, SCRIPT's own syntax errors and math.random seeded afresh for every EVAL.
"""

from __future__ import annotations

from collections.abc import Callable

from rdbtools.keyspace.commands import CommandError
from rdbtools.server.eviction import OOM
from rdbtools.server.lualibs import LuaRaise

#: SCRIPT's subcommands and their arity (the command's name counted)
_SCRIPT_ARITY = {b"LOAD": 3, b"EXISTS": -3, b"FLUSH": -2, b"KILL": 2, b"DEBUG": 3, b"HELP": 2}
#: Redis 6.2's scriptCommand: what each subcommand takes (anything else is a syntax error)
_SCRIPT_ARITY_62 = {b"LOAD": 3, b"EXISTS": -2, b"FLUSH": -2, b"KILL": 2, b"DEBUG": 3, b"HELP": 2}

_VALKEY_WORDS = (("Lua redis lib command arguments", "Command arguments"),
                 ("Unknown Redis command called", "Unknown command called"),
                 ("calling Redis command from script", "calling command from script"),
                 ("for this redis lib call", "for this call"), ("redis.register_function", "server.register_function"),
                 ("No matching script. Please use EVAL.", "No matching script."),
                 ("redis.acl_check_cmd()", "server.acl_check_cmd()"))

#: redis.call's refusals as Redis 6.2 words them (luaPushError's texts; OOM as shared.oomerr holds it)
_TEXTS_62 = {
    "ERR Unknown Redis command called from script": "Unknown Redis command called from Lua script",
    "ERR Wrong number of args calling Redis command from script":
        "Wrong number of args calling Redis command From Lua script",
    "ERR This Redis command is not allowed from script": "This Redis command is not allowed from scripts",
    "ERR Lua redis lib command arguments must be strings or integers":
        "Lua redis() command arguments must be strings or integers",
    "ERR Please specify at least one argument for this redis lib call":
        "Please specify at least one argument for redis.call()",
    OOM: f"-{OOM}\r\n",
}


def valkey_text(text: str) -> str:
    """An error as Valkey words it (it dropped "Redis" from its texts)."""
    for redis_words, valkey_words in _VALKEY_WORDS:
        text = text.replace(redis_words, valkey_words)
    return text


def same_text(text: str) -> str:
    return text


def flattened(text: str) -> str:
    """An error's text as a reply gives it (addReplyErrorFormat: trailing newlines trimmed, the others
    spaces)."""
    if "\r" not in text and "\n" not in text:
        return text
    return text.rstrip("\r\n").replace("\r", " ").replace("\n", " ")


class ScriptDialect:
    """Redis 7.0 and later, and Valkey."""

    redis62 = False  # lua_env.lua builds Redis 6.2's environment (its pcall, error handler, redis table)
    shebang = True  # '#!lua flags=...' is read (7.0+)
    resp3_types = True  # {big_number=...} and {verbatim_string=...} are replies (7.0+)
    reseeds = False  # math.random starts from seed 0 at every EVAL (6.2)

    def __init__(self, target) -> None:
        self.say: Callable[[str], str] = valkey_text if target.valkey_server else same_text
        self.valkey_9 = target.valkey_server and target.version >= (9, 0)  # errors name no script, "Valkey"

    def refusal(self, text: str, place: Callable[[], bytes]) -> LuaRaise:
        """redis.call's checks refused the call: an error table (script_lua.c's luaPushError)."""
        return LuaRaise(self.say(text).encode(), table=True)

    def command_error(self, text: str) -> LuaRaise:
        """The command redis.call ran answered an error: raised as a table with its err field."""
        return LuaRaise(self.say(text).encode(), table=True)

    def error(self, text: str) -> LuaRaise:
        """A helper's error (redis.log, setresp, set_repl, sha1hex): a table with its err field."""
        return LuaRaise(text.encode(), table=True)

    def failure(self, text: str, name: str, source, line) -> CommandError:
        """What EVAL answers for an error table raised in the script (with where it was raised)."""
        if source is not None and line is not None:
            place = "on" if self.valkey_9 else f"{name}, on"
            text += f" script: {place} {source}:{line}."
        return CommandError(flattened(text))

    def failure_text(self, text: str, name: str) -> CommandError:
        """What EVAL answers for a raised value that is no error table."""
        return CommandError(f"ERR Error running script {name}, {text[:100]}\n")

    @staticmethod
    def shuts_down_busy(args: list[bytes]) -> bool:
        """Whether a SHUTDOWN sent while a script is busy stops the script and the server (NOSAVE)."""
        return any(arg.upper() == b"NOSAVE" for arg in args[1:])

    def check_script(self, args: list[bytes]) -> None:
        """SCRIPT's subcommand and arity, refused as Redis 7.0 refuses them."""
        sub = args[1].upper()
        arity = _SCRIPT_ARITY.get(sub)
        if arity is None:
            raise CommandError(f"ERR unknown subcommand '{_text(args[1])[:128]}'. Try SCRIPT HELP.")
        if (arity > 0 and len(args) != arity) or len(args) < -arity:
            raise CommandError(f"ERR wrong number of arguments for 'script|{_text(sub.lower())}' command")


class Redis62Dialect(ScriptDialect):
    """Redis 6.2's scripting.c."""

    redis62 = True
    shebang = False
    resp3_types = False
    reseeds = True

    def refusal(self, text: str, place: Callable[[], bytes]) -> LuaRaise:
        """luaPushError: 6.2's text at the place of redis.call's caller, raised as a string."""
        text = _TEXTS_62.get(text) or text.removeprefix("ERR ")
        return LuaRaise(place() + text.encode(), table=False)

    def command_error(self, text: str) -> LuaRaise:
        """luaRaiseError of the reply's error table: its text, raised as a string."""
        return LuaRaise(text.encode(), table=False)

    def error(self, text: str) -> LuaRaise:
        """lua_error of a pushed string: no code, no place."""
        return LuaRaise(text.removeprefix("ERR ").encode(), table=False)

    def failure_text(self, text: str, name: str) -> CommandError:
        """evalGenericCommand's reply (through addReplyErrorFormat: newlines become spaces)."""
        return CommandError(flattened(f"ERR Error running script (call to f_{name}): {text}"))

    @staticmethod
    def shuts_down_busy(args: list[bytes]) -> bool:
        """processCommand's exception while a script is busy: SHUTDOWN with one argument starting with n."""
        return len(args) == 2 and args[1][:1].lower() == b"n"

    def check_script(self, args: list[bytes]) -> None:
        """scriptCommand's checks: a subcommand with the wrong arguments is an unknown one; FLUSH with
        more than one is refused by its option check."""
        sub = args[1].upper()
        arity = _SCRIPT_ARITY_62.get(sub)
        if sub == b"FLUSH" and len(args) > 3:
            raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        if arity is None or (arity > 0 and len(args) != arity) or len(args) < -arity:
            raise CommandError(f"ERR Unknown subcommand or wrong number of arguments for '{_text(args[1])[:128]}'. "
                               "Try SCRIPT HELP.")


def script_dialect(target) -> ScriptDialect:
    """The dialect of the target's scripting."""
    if not target.valkey_server and target.version < (7, 0):
        return Redis62Dialect(target)
    return ScriptDialect(target)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")
