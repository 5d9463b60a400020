"""Lua scripting as Redis 7 runs it: EVAL, EVALSHA, their _RO forms, SCRIPT, FCALL/FCALL_RO of the stored
FUNCTION libraries, FUNCTION STATS/KILL.

Scripts run in Lua 5.1 (lupa's lua51 runtime) synchronously inside the command, so nothing else runs
meanwhile, as in Redis. The environment (lua_env.lua) has Redis's globals, locked as Redis locks them,
and its error handler; redis.call runs the command through the server's own dispatch with a client of
the script's, so its effects reach the AOF inside the EVAL's propagation unit (Redis 7's effect
replication: MULTI/EXEC around them when there are several).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import lupa.lua51 as lua51

from rdbtools.formats import accelerated
from rdbtools.formats.manifest import split_args
from rdbtools.keyspace.commands import NULL_ARRAY, OK, CommandError, Double, Map, Status, format_double, integer
from rdbtools.server import lualibs
from rdbtools.server.clients import Client
from rdbtools.server.command_table import CommandSpec as Spec
from rdbtools.server.core import Server, unknown_subcommand
from rdbtools.server.eviction import OOM, SCRIPT_OOM
from rdbtools.server.lualibs import LuaRaise
from rdbtools.server.protocol import BigNumber, Raw, SetReply, Verbatim
from rdbtools.server.script_dialect import flattened as _flattened
from rdbtools.server.script_dialect import script_dialect
from rdbtools.server.script_dialect import valkey_text as _valkey_text

log = logging.getLogger("rdbtool.serve")

NOSCRIPT_ERROR = "NOSCRIPT No matching script. Please use EVAL."
NOTBUSY = "NOTBUSY No scripts in execution right now."
#: what Redis 7.0 still runs for other clients while a script is busy (its ALLOW_BUSY commands, but
#: SHUTDOWN and REPLCONF)
_ALLOWED_WHILE_BUSY = frozenset((b"auth", b"discard", b"hello", b"multi", b"quit", b"reset", b"unwatch", b"watch"))
_BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
_BUSY_FUNCTION = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
RO_WITH_WRITES = "ERR Can not execute a script with write flag using *_ro command."
#: not writes, but refused in read-only scripts (Redis's MAY_REPLICATE)
_MAY_REPLICATE = frozenset((b"publish", b"spublish", b"pfcount"))
_FLAGS = (b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster", b"allow-cross-slot-keys")
_LRAND48_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_OK_BATCH = 256
#: key counts as clients send them, read without string2ll (anything else goes through it)
_SMALL_COUNTS = {b"%d" % n: n for n in range(16)}
_SPELLINGS_CACHED = 4096
#: how deep a script's reply may nest before it is cut with Redis's "reached lua stack limit" (Redis cuts
#: at its Lua stack's 8000 slots, about 7995 arrays deep; serve sooner, within Python's recursion limit)
_REPLY_DEPTH = 200  # verdicts of redis.call's names as scripts spell them (bounded)


#: what redis.call's checks decide of a command once (Scripting._verdict)
Verdict = tuple[Spec, str | None, bool, bool, int]
#: what the accelerator's redis.call may decide of a run's calls itself, the rest left to Scripting._execute:
#: nothing, reads only (a read-only run: its writes are refused in Python), reads and writes
CHECKS_IN_PYTHON, CHECKS_READS, CHECKS_ALL = 0, 1, 2


@dataclass(slots=True)  # (slots: the accelerator reads a script's fields at their offsets)
class Script:
    body: bytes
    function: object  # the compiled Lua function (with the accelerator, its number in lua_env.lua's `kept`)
    flags: frozenset[bytes] | None  # the shebang's flags; None: no shebang (EVAL's compatibility mode)
    name: str = ""  # its sha, as errors show it
    #: what its flags decide, worked out once rather than on every run: it promises no writes; a *_RO
    #: command refuses it (flags that allow writes)
    no_writes: bool = field(init=False)
    refuses_ro: bool = field(init=False)

    def __post_init__(self) -> None:
        self.no_writes = self.flags is not None and b"no-writes" in self.flags
        self.refuses_ro = self.flags is not None and not self.no_writes


@dataclass
class Function:
    name: bytes
    library: bytes
    callback: object
    flags: frozenset[bytes]
    description: bytes | None


class Run:
    """One script invocation (Redis's scriptRunCtx). What most runs never change is a class default, so
    that starting one writes few attributes; what the accelerator reads or sets on every run is a slot
    (_luacall.c's new_run sets them as __init__ does)."""

    __slots__ = ("__dict__", "busy", "dirty", "name", "read_only", "resp", "started")

    eval = True  # EVAL (SCRIPT KILL) or FCALL (FUNCTION KILL)
    repl = 3  # redis.set_repl: 1 AOF, 2 replicas
    allow_oom = False  # its flags say allow-oom: its calls may use memory past maxmemory
    killed = False
    failed = False  # one of its commands failed (its error counted in errorstats)
    caller: Client | None = None
    #: the EVAL/FCALL call of a caller that tracks keys: its keys are remembered once the script reads
    call: list[bytes] | None = None
    #: Redis 6.2 with DEBUG lua-always-replicate-commands 0: the script is replicated whole, not its effects
    #: (until redis.replicate_commands()); a random command makes later writes refused
    effects = True
    random_dirty = False

    def __init__(self, name: str, read_only: bool) -> None:
        self.name = name  # the sha or function name its errors show
        self.read_only = read_only
        self.resp = 2  # the protocol redis.call's replies come in (redis.setresp)
        self.busy = False  # past busy-reply-threshold: other clients get BUSY
        self.dirty = False  # it ran a write (it can no longer be killed)
        self.started = 0.0


class Scripting:
    """Scripts and functions of one server, and the Lua state that runs them."""

    __slots__ = ("__dict__", "caller", "run")  # (what the accelerator sets on every run: at their offsets)

    def __init__(self, server: Server) -> None:
        self.server = server
        self.scripts: dict[bytes, Script] = {}
        self.functions: dict[bytes, Function] = {}
        self._libraries_seen: dict[bytes, bytes] = {}
        self.run: Run | None = None
        #: the scripts Redis 6.2 propagated as EVAL when it replicated them whole (its replication script
        #: cache, forgotten with the scripts)
        self._replicated: set[bytes] = set()
        self._shutdown: tuple[Client, list[bytes]] | None = None  # a SHUTDOWN NOSAVE that killed a busy script
        self.client = Client(0, "", "", send=_ignore, close=_ignore, user=server.acl.default)  # scripts call through it
        self.client.authenticated = True
        self.caller = self.client
        self.random = Lrand48()
        #: what redis.call's checks decide for a command, by its name as scripts spell it: (its record, the
        #: refusal of a command scripts may not call, whether it writes or may replicate, whether it writes,
        #: its arity) (the accelerator reads them too)
        self._verdicts: dict[bytes, Verdict] = {}
        #: the compiled redis.call, redis.pcall and runs (_luacall.c), when built and not switched off
        self._binding_type = accelerated("Binding", "rdbtools.server._luacall")
        self._start()

    def _start(self) -> None:
        """A fresh Lua state (start-up and SCRIPT FLUSH)."""
        lua = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True, register_eval=False,
                               register_builtins=False)
        target = self.server.config.target
        dialect = self._dialect = script_dialect(target)
        version = "7.2.4" if target.valkey_server else target.server_version  # Valkey answers as Redis 7.2.4
        major, minor, patch = (int(p) for p in ([*version.split("."), "0", "0"])[:3])
        py = lua.table_from({
            b"call": self._call, b"pcall": self._pcall, b"tick": self._tick, b"unwrap": lualibs.unwrap,
            b"sha1hex": self._sha1hex, b"error_reply": _error_reply, b"log": self._log, b"redis62": dialect.redis62,
            b"replicate_commands": self._replicate_commands, b"error_reply62": self._single_field(b"err"),
            b"status_reply62": self._single_field(b"ok"),
            b"setresp": self._setresp, b"set_repl": self._set_repl, b"acl_check_cmd": self._acl_check_cmd,
            b"random": self._random, b"randomseed": self._randomseed, b"version": version.encode(),
            b"version_num": (major << 16) | (minor << 8) | patch, b"libraries": lualibs.install(lua),
        })
        binding = self._bind_accelerator(py)
        self.lua = lua
        self.helpers = lualibs.load_chunk(lua, _ENV_SOURCE)(py)
        self._table = lua.table_from
        helpers = self.helpers  # a Lua table: its functions fetched once (each access is a call into Lua)
        self._rawget, self._call_function = helpers.rawget, _through_lupa(helpers.call)
        # a script's run: by its number through the accelerator, else through lupa
        self._keep: Callable[[object], object]
        self._run, self._keep = ((_through_lupa(helpers.run), _same) if binding is None else
                                 (binding.run, helpers.keep))
        self._binding = binding  # (kept while its Lua state lives: the state's C functions point to it)
        self._compile, self._load, self._library = helpers.compile, helpers.load, helpers.library
        self._arm, self._place = helpers.arm, helpers.place
        self._make_ok_tables = helpers.ok_tables
        self._ok_tables: list[object] = []  # Lua tables {ok = "OK"}, made in batches
        before_72 = not target.valkey_server and target.version < (7, 2)
        self._double_text = _printf_double if before_72 else format_double
        self._log_level_error = ("ERR Invalid log level." if target.valkey_server or target.version >= (7, 4)
                                 else "ERR Invalid debug level.")
        self._say, self._valkey_9 = dialect.say, dialect.valkey_9
        #: a run starts as eval starts it, without its dialect's steps (6.2 reseeds math.random, and may
        #: replicate whole scripts)
        self._plain_runs = not (dialect.reseeds or dialect.redis62)
        self._libraries_seen.clear()
        self.functions.clear()
        self._install_handlers(binding)

    def _install_handlers(self, binding) -> None:
        """EVALSHA's and EVALSHA_RO's handlers in place of the table's (a call less per request): the
        accelerator's, which runs the common call itself, when it may, else _by_sha's."""
        by_sha, by_sha_ro = self._by_sha(False), self._by_sha(True)
        if binding is not None and self._plain_runs:
            binding.bind_eval(self, self.scripts, self.server.subscribers.monitors, self.server.engine,
                              self.server.config.values, Run, by_sha, by_sha_ro, self._after_busy, self._answer,
                              time.monotonic)
            by_sha, by_sha_ro = binding.evalsha, binding.evalsha_ro
        for name, handler in ((b"evalsha", by_sha), (b"evalsha_ro", by_sha_ro)):
            spec = self.server.catalog.get(name)
            if spec is not None:  # (EVALSHA_RO: Redis 7.0+)
                spec.handler = handler

    def _bind_accelerator(self, py) -> Any:
        """The accelerator's binding to the Lua state about to be built (None without it); what it leaves
        to Python comes back through ``py``. (Any: the accelerator's C type has no stub.)"""
        binding_type = self._binding_type
        if binding_type is None:
            return None
        self._converted: list = []  # a reply _convert made Lua's, until the accelerator takes it
        self._taken: list = []  # a Lua value lupa made Python's for the accelerator
        binding = binding_type(lua51.__file__, self._execute, self._execute_any, self._convert, self._resp3,
                               self._taken, LuaRaise, Status, SetReply, NULL_ARRAY, self._verdicts, self._failed_call,
                               self.server, self.client, CommandError, OK)
        py[b"accelerator"] = importlib.import_module(binding_type.__module__).__file__.encode()  # type: ignore[union-attr]
        py[b"converted"], py[b"take"] = self._converted.pop, self._taken.append
        return binding

    # --- EVAL, EVALSHA, SCRIPT -------------------------------------------------------------------

    def eval(self, client: Client, args: list[bytes], *, by_sha: bool, read_only: bool) -> object:
        if self.server.subscribers.monitors:
            self.server.tell_monitors(client, args)  # before its calls, as Redis shows a script
        if by_sha and len(args[1]) != 40:
            raise CommandError(self._say(NOSCRIPT_ERROR))
        count = _SMALL_COUNTS.get(args[2])
        if count is None or count > len(args) - 3:
            count = _key_count(args)
        if by_sha:
            script = self.scripts.get(args[1]) or self.scripts.get(args[1].lower())
            if script is None:
                raise CommandError(self._say(NOSCRIPT_ERROR))
        else:
            script = self.create(args[1])[1]
        if self._dialect.reseeds:  # 6.2: the same math.random sequence in every run
            self.random.seed(0)
        if read_only and script.refuses_ro:
            raise CommandError(RO_WITH_WRITES)
        run = Run(script.name, read_only or script.no_writes)
        if script.flags is not None:
            run.allow_oom = self._check_oom(script.flags)
        if self._dialect.redis62 and self.server.config.kept.get("lua-replicate-commands") == "no":
            return self._whole_script(client, run, script, count, args)
        return self._invoke(client, run, self._run, script.function, count, args)

    def _by_sha(self, read_only: bool) -> Callable[[Client, list[bytes]], object]:
        """EVALSHA's (or EVALSHA_RO's) handler, in place of the table's once scripting started (the dispatch
        a call less): a cached script without flags, its key count as clients send it and no MONITOR, runs
        at once (what eval would check of it is then decided); any other, through eval."""
        scripts, monitors = self.scripts, self.server.subscribers.monitors

        def evalsha(client: Client, args: list[bytes]) -> object:
            script, count = scripts.get(args[1]), _SMALL_COUNTS.get(args[2])
            if (script is None or script.flags is not None or count is None or count > len(args) - 3 or monitors
                    or not self._plain_runs):
                return self.eval(client, args, by_sha=True, read_only=read_only)
            return self._invoke(client, Run(script.name, read_only), self._run, script.function, count, args)
        return evalsha

    def replicate_always(self, value: bytes) -> bool:
        """DEBUG lua-always-replicate-commands <n> (Redis 6.2 only): lua-replicate-commands, no (scripts
        replicated whole) for 0; whether the target has it."""
        if not self._dialect.redis62:
            return False
        # atoi: the leading number, else 0 (the pattern matches every string, the empty one too)
        digits = re.match(rb"\s*[-+]?\d*", value).group().strip()  # type: ignore[union-attr]
        always = digits not in (b"", b"-", b"+") and int(digits) != 0
        self.server.config.kept["lua-replicate-commands"] = "yes" if always else "no"
        return True

    def _whole_script(self, client: Client, run: Run, script: Script, count: int, args: list[bytes]) -> object:
        """Redis 6.2's replication of whole scripts: not the effects but the EVAL, when it changed the
        dataset; an EVALSHA the first time as the EVAL of its body (SCRIPT LOAD if it changed nothing)."""
        server = self.server
        run.effects, run.repl = False, 0
        dirty = server.changes.dirty
        reply = self._invoke(client, run, self._run, script.function, count, args)
        changed = server.changes.dirty != dirty
        if run.effects or server.aof is None:  # (redis.replicate_commands() switched to its effects)
            return reply
        sha = script.name.encode()
        if args[0].lower() == b"evalsha" and sha not in self._replicated:
            self._replicated.add(sha)
            server.aof.appender.feed(client.db, [[b"EVAL", script.body, *args[2:]] if changed else
                                        [b"SCRIPT", b"LOAD", script.body]])
        elif changed:
            self._replicated.add(sha)
            server.aof.appender.feed(client.db, [args])
        return reply

    def create(self, body: bytes) -> tuple[bytes, Script]:
        """The script of a body, compiled and cached under its sha (EVAL and SCRIPT LOAD)."""
        sha = hashlib.sha1(body).hexdigest().encode()
        script = self.scripts.get(sha)
        if script is not None:
            return sha, script
        flags, shebang = self._shebang(body)
        function, error = self._compile(body[shebang:], b"@user_script")
        if function is None:
            raise CommandError(f"ERR Error compiling script (new function): {_text(error)}")
        script = self.scripts[sha] = Script(body, self._keep(function), flags, sha.decode())
        return sha, script

    def _shebang(self, body: bytes) -> tuple[frozenset[bytes] | None, int]:
        """A script's flags and the length of its shebang line (none before 7.0: it is Lua)."""
        if not self._dialect.shebang:
            return None, 0
        return _shebang(body, self.server.config.target.valkey_server)

    def script(self, client: Client, args: list[bytes]) -> object:
        self._dialect.check_script(args)
        sub = args[1].upper()
        if sub == b"LOAD":
            sha = self.create(args[2])[0]
            self._propagate_for_62(client, args)
            return sha
        if sub == b"EXISTS":
            return [int(sha in self.scripts) for sha in args[2:]]
        if sub == b"FLUSH" and len(args) <= 3:
            if len(args) == 3 and args[2].upper() not in (b"SYNC", b"ASYNC"):
                raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            self.scripts.clear()
            self._replicated.clear()
            self._start()
            self._propagate_for_62(client, args)
            return OK
        if sub == b"KILL":
            raise CommandError(NOTBUSY)
        raise CommandError(f"ERR unknown subcommand '{_text(args[1])[:128]}'. Try SCRIPT HELP.")

    def _propagate_for_62(self, client: Client, args: list[bytes]) -> None:
        if self.server.config.target.propagates_scripts:
            self.server.propagate(client.db, [args])

    # --- FCALL, FUNCTION STATS / KILL ------------------------------------------------------------

    def fcall(self, client: Client, args: list[bytes], *, read_only: bool) -> object:
        self.server.tell_monitors(client, args)  # before its calls, as Redis shows a function
        self._sync_libraries()
        function = self.functions.get(args[1])
        if function is None:
            raise CommandError("ERR Function not found")
        count = _key_count(args, "ERR Bad number of keys provided")
        self._check_flags(function.flags, read_only)
        run = Run(function.name.decode("utf-8", "replace"), read_only or b"no-writes" in function.flags)
        run.eval = False
        run.allow_oom = self._check_oom(function.flags)
        return self._invoke(client, run, self._call_function, function.callback, count, args)

    def function_stats(self) -> Map:
        self._sync_libraries()
        counts = Map({b"libraries_count": len(self._libraries_seen), b"functions_count": len(self.functions)})
        return Map({b"running_script": None, b"engines": Map({b"LUA": counts})})

    def load_library(self, source: bytes) -> dict[bytes, Function]:
        """A library's functions, as FUNCTION LOAD registers them (its errors as Redis words them)."""
        registered: dict[bytes, Function] = {}
        name = _library_name(source)
        register = _Registrar(self, name, registered)
        env, loaded = self._library(register)
        body = source[source.index(b"\n"):] if b"\n" in source else b""
        chunk, error = self._compile(body, b"@user_function", env)
        if chunk is None:
            raise CommandError(f"ERR Error compiling function: {_text(error)}")
        ok, result = self._load(chunk)
        register.loading = False
        loaded()
        if not ok:
            message = self._rawget(result, b"err") if _is_table(result) else result
            raise CommandError(f"ERR Error registering functions: {_text(message)}")
        if register.refused:
            raise CommandError(register.refused)
        if not registered:
            raise CommandError("ERR No functions registered")
        return registered

    def check_load(self, source: bytes, replace: bool) -> None:
        """FUNCTION LOAD's checks before the library is stored: its metadata, that it is new (or
        REPLACE), that it compiles and registers functions no other library has."""
        _, name = library_metadata(source)
        stored = self.server.engine.keyspace.functions
        if name in stored and not replace:
            raise CommandError(f"ERR Library '{_text(name)}' already exists")
        registered = self.load_library(source)
        self._sync_libraries()
        for function in registered:
            other = self.functions.get(function)
            if other is not None and other.library != name:
                raise CommandError(f"ERR Function {_text(function)} already exists")

    def function_list(self, args: list[bytes]) -> list:
        """FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]: what each library registered, with its flags."""
        from rdbtools.rdb.filters import glob_to_regex

        options = [a.upper() for a in args[2:]]
        pattern = glob_to_regex(args[2 + options.index(b"LIBRARYNAME") + 1]) if b"LIBRARYNAME" in options else None
        self._sync_libraries()
        replies = []
        for name, source in sorted(self.server.engine.keyspace.functions.items()):
            if pattern is not None and not pattern.fullmatch(name):
                continue
            functions = [Map({b"name": f.name, b"description": f.description,
                              b"flags": SetReply([Status(flag.decode()) for flag in _FLAGS if flag in f.flags])})
                         for f in self.functions.values() if f.library == name]
            library = Map({b"library_name": name, b"engine": b"LUA", b"functions": functions})
            if b"WITHCODE" in options:
                library[b"library_code"] = source
            replies.append(library)
        return replies

    def _sync_libraries(self) -> None:
        """The functions of the libraries the keyspace stores now (FUNCTION LOAD/DELETE/RESTORE, a load)."""
        stored = self.server.engine.keyspace.functions
        if stored == self._libraries_seen:
            return
        self.functions.clear()
        for source in stored.values():
            try:
                self.functions.update(self.load_library(source))
            except CommandError as error:
                log.warning("Library could not be loaded: %s", error)
        self._libraries_seen = dict(stored)

    # --- a run -----------------------------------------------------------------------------------

    def _check_flags(self, flags: frozenset[bytes] | None, read_only: bool) -> None:
        """What scriptPrepareForRun refuses for a script with flags (a shebang, or any function)."""
        if flags is None or b"no-writes" in flags:
            return
        if read_only:
            raise CommandError(RO_WITH_WRITES)

    def _check_oom(self, flags: frozenset[bytes]) -> bool:
        """scriptPrepareForRun's OOM refusal of a script with flags that may write and lacks allow-oom, when
        the command started out of memory; whether it has allow-oom."""
        allowed = b"allow-oom" in flags
        memory = self.server.engine.memory
        if memory.limit and memory.out_of_memory and not allowed and b"no-writes" not in flags:
            raise CommandError(SCRIPT_OOM)
        return allowed

    def denies_oom(self, name: bytes, args: list[bytes]) -> bool:
        """Whether EVAL/FCALL and their forms may use memory (the OOM check before them): a script with
        flags (a shebang, a function) may unless they say allow-oom or no-writes; one without, as EVAL
        itself, may not (its calls are checked one by one)."""
        if name.startswith(b"fcall"):
            self._sync_libraries()
            function = self.functions.get(args[1])
            flags = None if function is None else function.flags
        else:
            by_sha = name.startswith(b"evalsha")
            script = (self.scripts.get(args[1]) or self.scripts.get(args[1].lower()) if by_sha else
                      self.scripts.get(hashlib.sha1(args[1]).hexdigest().encode()))
            try:
                flags = script.flags if script is not None else None if by_sha else self._shebang(args[1])[0]
            except CommandError:
                return False
        return flags is not None and not flags & {b"allow-oom", b"no-writes"}

    def _invoke(self, caller: Client, run: Run, runner, function, count: int, args: list[bytes]) -> object:
        """Run a script or function with the command's keys (``count`` of them) and arguments."""
        server, client, engine = self.server, self.client, self.server.engine
        client.db, client.user, client.gated = caller.db, caller.user, caller.gated  # its calls are the caller's
        was_in_transaction, server.in_transaction = server.in_transaction, True  # no command blocks
        self.run, self.caller, engine.scripted = run, caller, True
        if server.config.values["busy-reply-threshold"] > 0:  # the busy hook counts from here
            run.started = time.monotonic()
        if caller.tracking is not None and not caller.tracking.bcast:
            run.caller, run.call = caller, args
        checks = (CHECKS_IN_PYTHON if client.gated or run.call is not None or server.subscribers.monitors
                  or not run.effects or not run.repl & 1 else CHECKS_READS if run.read_only else CHECKS_ALL)
        try:
            ok, value, kind = runner(function, count, args, run, checks)
        finally:
            self.run, engine.scripted, server.in_transaction = None, False, was_in_transaction
            if run.resp != 2:  # redis.setresp changed it: the next run starts in RESP2
                client.resp = 2
            if run.busy:
                self._after_busy(run)
        if kind == b"ok" and value == b"OK":  # the common status, as redis.call('set', ...) returns it
            return OK
        return self._answer(run, ok, value, kind, args)

    def _after_busy(self, run: Run) -> None:
        """A run that went past busy-reply-threshold ended (the accelerator's runs end here too); a SHUTDOWN
        that stopped it came while it was busy."""
        log.warning("Script returned from busy state")
        if run.killed:  # its hook fails every line: the next run is checked every 100000 instructions
            self._arm()
        if self._shutdown is not None:  # the script was stopped for it: the server now shuts down
            (shutting, command), self._shutdown = self._shutdown, None
            self.server.execute(shutting, command)

    def _answer(self, run: Run, ok: bool, value, kind: bytes | None, args: list[bytes]) -> object:
        """The reply of a run from its outcome (what lua_env.lua's `finished` tells apart), an error
        accounted for (the accelerator's runs end here too, but for the common OK)."""
        if not ok:
            reply = self._failure(value, run)
            counted = _is_table(value) and bool(self._rawget(value, b"ignore_error_stats_update"))
        elif kind is None:
            return self._reply(value, run)
        else:
            text = _text(value)
            if kind == b"ok":
                return Status(text.replace("\r", " ").replace("\n", " "))
            reply, counted = CommandError(_flattened(text)), kind == b"counted"
        self._account(reply, counted, run.failed, args)
        return reply

    def _account(self, error: CommandError, counted: bool, failed: bool, args: list[bytes]) -> None:
        """A script that answers an error: a failed call of EVAL/FCALL, as is one whose commands failed
        (``failed``); its error is counted in errorstats unless it is a command's error, counted when that
        failed (from Redis 7.0: 6.2 counts it again)."""
        server, target = self.server, self.server.config.target
        if not counted or (not target.valkey_server and target.version < (7, 0)):
            server.count_error(error)
            failed = True
        if failed:
            spec = server.resolve(args)
            if spec is not None:
                spec.failed_calls += 1

    def _failure(self, error, run: Run) -> CommandError:
        if not _is_table(error):
            return self._dialect.failure_text(_text(_bytes(error)), run.name)
        rawget = self._rawget
        message = rawget(error, b"err")
        text = _text(message if message.__class__ is bytes else _number_text(message))
        source, line = rawget(error, b"source"), rawget(error, b"line")
        return self._dialect.failure(text, run.name, None if source is None else _text(_bytes(source)),
                                     None if line is None else _text(_number_text(line)))

    # --- redis.call ------------------------------------------------------------------------------

    def _call(self, *arguments):
        """redis.call through lupa: the reply as Lua sees it; an error raised as Redis raises it (a table)."""
        reply = self._execute_any([*arguments])
        if reply is OK:  # the common status, its table straight from the batch
            tables = self._ok_tables
            return tables.pop() if tables else self._ok_table()
        return self._to_lua(reply, self.run.resp == 3)  # type: ignore[union-attr]  # (a script runs)

    def _execute_any(self, args: list) -> object:
        """redis.call's arguments as lupa gives them: numbers as their text, other values refused."""
        if self.run is not None and args:  # (its first checks come first)
            for argument in args:
                if argument.__class__ is not bytes:
                    return self._execute(self._arguments(args))
        return self._execute(args)

    def _execute(self, args: list[bytes]) -> object:
        """What redis.call does: its checks and the command; the reply, not yet Lua's (the accelerator
        converts it itself)."""
        run = self.run
        if run is None:
            raise self._refusal("ERR redis.call/pcall can only be called inside a script invocation")
        if not args:
            raise self._refusal("ERR Please specify at least one argument for this redis lib call")
        verdict = self._verdicts.get(args[0]) or self._verdict(args)
        if verdict is None:
            raise self._rejected(run, None, self._unknown(args))
        spec, refusal, writes, write, arity = verdict
        dirty = run.dirty  # before this call (Redis marks a run dirty once a write passed its checks)
        if (arity > 0 and len(args) != arity) or len(args) < -arity:
            raise self._rejected(run, spec, "ERR Wrong number of args calling Redis command from script")
        if refusal is not None:
            raise self._rejected(run, spec, refusal)
        if not run.effects:
            self._check_whole_script(run, spec)
        if writes:
            if run.read_only:
                raise self._rejected(run, spec, "ERR Write commands are not allowed from read-only scripts.")
            if write:
                run.dirty = True
        server, client = self.server, self.client
        if client.gated:  # (every client is while maxmemory is set)
            denied = server.acl.script_denial(client, self.caller, spec, args)
            if denied is not None:
                raise self._rejected(run, spec, denied)
            memory = server.engine.memory
            # the first write of a script started out of memory (scriptVerifyOOM)
            if memory.limit and memory.out_of_memory and not (run.allow_oom or dirty) and "denyoom" in spec.flags:
                raise self._rejected(run, spec, OOM)
        unit = server.unit
        mark, failures = len(unit), spec.failed_calls
        reply = server._call(client, args, spec)
        if server.subscribers.monitors:
            server.tell_monitors(client, args, spec, "lua")
        if run.call is not None and "readonly" in spec.flags:  # Redis remembers the script's keys for its caller
            server.track_read(run.caller, run.call, script_read=True)  # type: ignore[arg-type]  # (set with call)
        if not run.repl & 1:
            del unit[mark:]
        if reply is OK:
            return reply
        if not run.effects and "sort_for_script" in spec.flags and reply.__class__ is list:
            reply = sorted(reply)  # (luaSortArray: the same order on replicas; a RESP3 set stays a set)
        if isinstance(reply, CommandError):
            self._failed_call(spec, failures, reply)
        return reply

    def _failed_call(self, spec: Spec, failures: int, reply: CommandError) -> NoReturn:
        """A command redis.call ran answered an error: raised into the script (the accelerator's calls end
        here too), the run marked failed when the command counted it (its EVAL then fails if it answers an
        error)."""
        if spec.failed_calls != failures:
            self.run.failed = True  # type: ignore[union-attr]  # (a script runs)
        raise self._dialect.command_error(_error_table_text(str(reply)))

    def _convert(self, reply) -> None:
        """A reply the accelerator leaves to Python, made Lua's for it to fetch (``converted``)."""
        self._converted.append(self._to_lua(reply, self.run.resp == 3))  # type: ignore[union-attr]  # (a script runs)

    def _resp3(self) -> bool:
        return self.run.resp == 3  # type: ignore[union-attr]  # (asked while a script runs)

    def _check_whole_script(self, run: Run, spec: Spec) -> None:
        """A write after a random command cannot be replicated as part of the whole script (6.2)."""
        if "write" in spec.flags and run.random_dirty:
            raise self._refusal("ERR Write commands not allowed after non deterministic commands. Call "
                                "redis.replicate_commands() at the start of your script in order to switch to "
                                "single commands replication mode.")
        if "random" in spec.flags:
            run.random_dirty = True

    def _pcall(self, *arguments):
        """redis.pcall: as redis.call, but an error comes back as a table with its err field."""
        try:
            return self._call(*arguments)
        except LuaRaise as error:
            return self._table({b"err": error.text, b"ignore_error_stats_update": True})

    def _rejected(self, run: Run, spec: Spec | None, text: str) -> LuaRaise:
        """A call redis.call's checks refused once it named a command: from Redis 7.0 (scriptCall) an error
        reply in errorstats and a rejected call of the command, so that the run's EVAL fails if it answers
        an error; 6.2 counts neither."""
        if not self._dialect.redis62:
            self.server.count_error(CommandError(text))
            if spec is not None:
                spec.rejected_calls += 1
            run.failed = True
        return self._refusal(text)

    def _refusal(self, text: str) -> LuaRaise:
        """An error of redis.call (a table with its err field, as Redis raises it)."""
        return self._dialect.refusal(text, self._place)

    def _ok_table(self):
        """A fresh {ok="OK"}, the most common status (tables made in Lua a batch at a time: none is shared)."""
        tables = self._ok_tables
        if not tables:
            tables.extend(self._make_ok_tables(_OK_BATCH))
        return tables.pop()

    def _arguments(self, arguments: list) -> list[bytes]:
        """redis.call's arguments as the command gets them (a number as its text); refused if one is neither."""
        args = []
        for argument in arguments:
            kind = argument.__class__
            if kind is bytes:
                args.append(argument)
            elif kind is int or kind is float:
                args.append(self._double_text(float(argument)))
            else:
                raise self._refusal("ERR Lua redis lib command arguments must be strings or integers")
        return args

    def _unknown(self, args: list[bytes]) -> str:
        """redis.call's error for a command the target does not have; Valkey 9, whose scripts call as a
        module does, answers an unknown subcommand of a container with the server's own error."""
        server = self.server
        container = server._lookup(args[0]) if self._valkey_9 and len(args) > 1 else None
        if container is not None and container.subcommands is not None:
            return str(unknown_subcommand(args))
        return "ERR Unknown Redis command called from script"

    def _verdict(self, args: list[bytes]) -> Verdict | None:
        """What redis.call checks of a command's flags, worked out from its record once per spelling of
        its name (a container's, whose subcommand decides, every time)."""
        spec = self.server.resolve(args)
        if spec is None:
            return None
        flags = spec.flags
        refusal = (f"ERR This {'Valkey' if self._valkey_9 else 'Redis'} command is not allowed from script"
                   if "noscript" in flags else None)
        verdict = (spec, refusal, "write" in flags or spec.name in _MAY_REPLICATE, "write" in flags, spec.arity)
        if spec.subcommands is None and b"|" not in spec.name and len(self._verdicts) < _SPELLINGS_CACHED:
            self._verdicts[args[0]] = verdict
        return verdict

    def _to_lua(self, reply, resp3: bool):
        """A command's reply as Lua gets it (Redis's redisProtocolToLuaType, RESP2 or RESP3)."""
        kind = reply.__class__
        if kind is bytes or kind is int:
            return reply
        if reply is None or reply is NULL_ARRAY:
            return None if resp3 else False
        if isinstance(reply, Status):
            return self._ok_table() if reply == "OK" else self._table({b"ok": reply.encode()})
        if isinstance(reply, bool):
            return reply if resp3 else int(reply)
        if isinstance(reply, Double):
            return self._table({b"double": float(reply)}) if resp3 else (reply.text or self._double_text(reply))
        if isinstance(reply, Map):
            if resp3:
                return self._table({b"map": self._table({self._to_lua(k, resp3): self._to_lua(v, resp3)
                                                         for k, v in reply.items()})})
            return self._table([self._to_lua(x, resp3) for pair in reply.items() for x in pair])
        if isinstance(reply, SetReply) and resp3:
            return self._table({b"set": self._table({self._to_lua(m, resp3): True for m in reply})})
        if isinstance(reply, list | tuple):
            return self._table([self._to_lua(item, resp3) for item in reply])
        if isinstance(reply, CommandError):
            return self._table({b"err": _error_table_text(str(reply)).encode()})
        if isinstance(reply, str):
            return reply.encode()
        if isinstance(reply, bytes | bytearray):
            return bytes(reply)
        return self._table({b"double": float(reply)}) if isinstance(reply, float) else reply

    # --- a script's reply --------------------------------------------------------------------------

    def _reply(self, value, run: Run, depth: int = 0) -> object:
        """What a script returned as the command's reply (Redis's luaReplyToRedisReply)."""
        kind = value.__class__
        if kind is bytes:
            return value
        if kind is int:
            return value if _INT64_MIN <= value < -_INT64_MIN else _INT64_MIN
        if kind is bool:
            return value if run.resp == 3 else (1 if value else None)
        if kind is float:
            return int(value) if math.isfinite(value) and _INT64_MIN <= value < -_INT64_MIN else _INT64_MIN
        if value is None or not _is_table(value):
            return None
        if depth >= _REPLY_DEPTH:  # a table holding itself: Redis runs out of Lua stack (much deeper)
            return CommandError("ERR reached lua stack limit")
        return self._table_reply(value, run, depth + 1)

    def _table_reply(self, table, run: Run, depth: int) -> object:
        rawget = self._rawget
        err = rawget(table, b"err")
        if err.__class__ is bytes:
            return CommandError(_flattened(_text(err)))
        ok = rawget(table, b"ok")
        if ok.__class__ is bytes:
            return Status(_text(ok).replace("\r", " ").replace("\n", " "))
        double = rawget(table, b"double")
        if double.__class__ in (int, float):
            return self._make_double(float(double))
        big = rawget(table, b"big_number")
        if big.__class__ is bytes and self._dialect.resp3_types:
            return BigNumber(big.replace(b"\r", b" ").replace(b"\n", b" "))
        verbatim = rawget(table, b"verbatim_string")
        if _is_table(verbatim) and self._dialect.resp3_types:
            form, text = rawget(verbatim, b"format"), rawget(verbatim, b"string")
            if form.__class__ is bytes and text.__class__ is bytes:
                return Verbatim(text, form)
        mapping = rawget(table, b"map")
        if _is_table(mapping):
            return Map((self._reply(k, run, depth), self._reply(v, run, depth)) for k, v in mapping.items())
        members = rawget(table, b"set")
        if _is_table(members):
            return SetReply([self._reply(k, run, depth) for k in members])
        items, index = [], 1
        while (item := rawget(table, index)) is not None:
            items.append(self._reply(item, run, depth))
            index += 1
        return items

    def _make_double(self, value: float) -> Double:
        double = Double(value)
        double.text = self._double_text(value)
        return double

    # --- a long script: BUSY, SCRIPT KILL, FUNCTION KILL ------------------------------------------

    def _tick(self) -> bool:
        """The busy hook (every 100000 Lua instructions): past busy-reply-threshold, the other clients
        are answered (BUSY, or a kill) through the server's busy_poll; True once the script is killed."""
        run = self.run
        if run is None or run.killed:
            return run is not None
        threshold = self.server.config.values["busy-reply-threshold"]
        elapsed_ms = (time.monotonic() - run.started) * 1000
        if threshold > 0 and elapsed_ms >= threshold:
            if not run.busy:
                run.busy = True
                log.warning("Slow script detected: still in execution after %d milliseconds. You can try killing "
                            "the script using the %s command. Script name is: %s.", elapsed_ms,
                            "SCRIPT KILL" if run.eval else "FUNCTION KILL", run.name)
            if self.server.busy_poll is not None:
                self.server.busy_poll(self.caller)
        return run.killed

    def while_busy(self, client: Client, args: list[bytes]) -> object:
        """What another client gets while a script is past busy-reply-threshold: its kill, or BUSY."""
        run = self.run
        name = args[0].lower()
        sub = args[1].upper() if len(args) == 2 else b""
        if (name, sub) in ((b"script", b"KILL"), (b"function", b"KILL")):
            return self.kill(name == b"script")
        if name == b"shutdown" and self._dialect.shuts_down_busy(args) and run is not None:
            run.killed, self._shutdown = True, (client, args)  # Redis exits at once: no reply
            return Raw(b"")
        if name in _ALLOWED_WHILE_BUSY or ((name, sub) == (b"function", b"STATS") and run is not None and not run.eval):
            return self.server.execute(client, args)
        busy = _BUSY_EVAL if run is None or run.eval else _BUSY_FUNCTION
        if client.multi is not None:  # refused inside MULTI: the transaction is aborted (EXEC ends it)
            if name == b"exec":
                client.multi, client.multi_failed, client.watched = None, False, {}
                return CommandError(f"EXECABORT Transaction discarded because of: {busy}")
            client.multi_failed = True
        return CommandError(busy)

    def kill(self, is_eval: bool) -> object:
        run = self.run
        if run is None or not run.busy:
            return CommandError(NOTBUSY)
        if run.dirty:
            return CommandError("UNKILLABLE Sorry the script already executed write commands against the dataset. "
                                "You can either wait the script termination or kill the server in a hard way "
                                "using the SHUTDOWN NOSAVE command.")
        if is_eval != run.eval:
            return CommandError(_BUSY_FUNCTION if is_eval else _BUSY_EVAL)
        run.killed = True
        log.warning("Lua script killed by user with SCRIPT KILL.")
        return OK

    # --- the rest of the redis table -------------------------------------------------------------

    def _setresp(self, *args) -> None:
        if self.run is None:
            raise _raise("ERR redis.setresp can only be called inside a script invocation")
        if len(args) != 1:
            raise self._dialect.error("ERR redis.setresp() requires one argument.")
        resp = _lua_int(args[0])
        if resp not in (2, 3):
            raise self._dialect.error("ERR RESP version must be 2 or 3.")
        self.run.resp = self.client.resp = resp

    def _set_repl(self, *args) -> None:
        if self.run is None:
            raise _raise("ERR redis.set_repl can only be called inside a script invocation")
        if not self.run.effects:
            raise self._dialect.error("ERR You can set the replication behavior only after turning on single "
                                      "commands replication with redis.replicate_commands().")
        if len(args) != 1:
            raise self._dialect.error("ERR redis.set_repl() requires two arguments.")
        flags = _lua_int(args[0])
        if flags & ~3:
            raise self._dialect.error("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or "
                                      "REPL_NONE.")
        self.run.repl = flags
        self._checks_in_python()

    def _acl_check_cmd(self, *args) -> bool:
        if self.run is None:
            raise _raise("ERR redis.acl_check_cmd can only be called inside a script invocation")
        if not args:
            raise _raise("ERR Please specify at least one argument for this redis lib call")
        name = args[0] if args[0].__class__ is bytes else b"%.17g" % args[0]
        call = [name, *(a if a.__class__ is bytes else self._double_text(float(a)) for a in args[1:])]
        spec = self.server.resolve(call)
        if spec is None:
            raise _raise(self._say("ERR Invalid command passed to redis.acl_check_cmd()"))
        return not self.client.gated or self.server.acl.allows(self.client, spec, call)

    def _log(self, *args) -> None:
        if len(args) < 2:
            raise self._dialect.error("ERR redis.log() requires two arguments or more.")
        number = _lua_number(args[0])
        if number is None:
            raise self._dialect.error("ERR First argument must be a number (log level).")
        level = int(number) if math.isfinite(number) else -1
        if not 0 <= level <= 3:
            raise self._dialect.error(self._log_level_error)
        parts = [a if a.__class__ is bytes else _number_text(a) for a in args[1:] if a.__class__ in (bytes, int, float)]
        log.log(_LOG_LEVELS[level], "%s", _text(b" ".join(parts)))

    def _sha1hex(self, *args) -> bytes:
        if len(args) != 1:
            raise self._dialect.error("ERR wrong number of arguments")
        value = args[0]
        data = value if value.__class__ is bytes else _number_text(value) if value.__class__ in (int, float) else b""
        return hashlib.sha1(data).hexdigest().encode()

    def _single_field(self, field: bytes):
        """Redis 6.2's redis.error_reply / status_reply: {<field>=<its one string>} as given, else an error
        table placed at its caller's line (a C function in Redis: a tail call keeps the caller's frame)."""
        def helper(*args):
            if len(args) != 1 or args[0].__class__ is not bytes:
                return self._table({b"err": self._place() + b"wrong number or type of arguments"})
            return self._table({field: args[0]})
        return helper

    def _checks_in_python(self) -> None:
        """The run's replication changed: its calls' checks are all Python's from now on (the accelerator's
        are decided once per run)."""
        if self._binding is not None:
            self._binding.mode = CHECKS_IN_PYTHON

    def _replicate_commands(self) -> bool:
        """redis.replicate_commands in 6.2: effects replication, refused (false) once the script wrote; the
        generator reseeded, as it may then differ between runs."""
        if self.run is not None and self.run.dirty:
            return False
        if self.run is not None:
            self.run.effects, self.run.repl = True, 3
            self._checks_in_python()
        self.random.seed(random.getrandbits(31))
        return True

    def _random(self, *args):
        if self.run is None:
            raise LuaRaise(b"math.random can only be called inside a script invocation", table=False)
        r = (self.random.next() % _LRAND48_MAX) / _LRAND48_MAX
        if not args:
            return r
        low, high = (1, _lua_int(args[0])) if len(args) == 1 else (_lua_int(args[0]), _lua_int(args[1]))
        return math.floor(r * (high - low + 1)) + low

    def _randomseed(self, seed=0) -> None:
        self.random.seed(_lua_int(seed))


class _Registrar:
    """redis.register_function while a library loads (positional or named arguments, with flags)."""

    def __init__(self, scripting: Scripting, library: bytes, registered: dict[bytes, Function]) -> None:
        self.scripting, self.library, self.registered, self.loading = scripting, library, registered, True
        self.valkey = scripting.server.config.target.valkey_server
        self.refused: str | None = None  # Valkey checks names once the library has loaded: its first refusal

    def __call__(self, *args):
        try:
            self._register(*args)
        except LuaRaise as error:
            if self.valkey:
                raise LuaRaise(_valkey_text(error.text.decode()).encode(), table=True) from None
            raise

    def _refuse_name(self, text: str) -> None:
        if not self.valkey:
            raise _raise("ERR " + text)
        self.refused = self.refused or "ERR " + text

    def _register(self, *args) -> None:
        if not self.loading:
            raise _raise("ERR redis.register_function can only be called on FUNCTION LOAD command")
        if len(args) == 1:
            if not _is_table(args[0]):
                raise _raise("ERR calling redis.register_function with a single argument is only applicable to Lua "
                             "table (representing named arguments).")
            name, callback, flags, description = self._named(args[0])
        elif len(args) == 2:
            name, callback = args
            if name.__class__ not in (bytes, int, float):
                raise _raise("ERR first argument to redis.register_function must be a string")
            if lua51.lua_type(callback) != "function":
                raise _raise("ERR second argument to redis.register_function must be a function")
            name, flags, description = _bytes(name), frozenset(), None
        else:
            raise _raise("ERR wrong number of arguments to redis.register_function")
        if not _VALID_NAME.fullmatch(name):
            self._refuse_name(_INVALID_NAME.replace("Library", "Function") if self.valkey else _INVALID_NAME)
        if name in self.registered:
            self._refuse_name("Function already exists in the library")
        self.registered[name] = Function(name, self.library, callback, flags, description)

    @staticmethod
    def _named(table) -> tuple[bytes, object, frozenset[bytes], bytes | None]:
        """register_function{function_name=, callback=, flags=, description=}, checked as Redis checks them."""
        name = callback = description = None
        flags: frozenset[bytes] = frozenset()
        for key, value in table.items():
            if key.__class__ is not bytes:
                raise _raise("ERR named argument key given to redis.register_function is not a string")
            if key.lower() == b"function_name":
                if value.__class__ is not bytes:
                    raise _raise("ERR function_name argument given to redis.register_function must be a string")
                name = value
            elif key.lower() == b"description":
                if value.__class__ is not bytes:
                    raise _raise("ERR description argument given to redis.register_function must be a string")
                description = value
            elif key.lower() == b"callback":
                if lua51.lua_type(value) != "function":
                    raise _raise("ERR callback argument given to redis.register_function must be a function")
                callback = value
            elif key.lower() == b"flags":
                flags = _function_flags(value)
            else:
                raise _raise("ERR unknown argument given to redis.register_function")
        if name is None:
            raise _raise("ERR redis.register_function must get a function name argument")
        if callback is None:
            raise _raise("ERR redis.register_function must get a callback argument")
        return name, callback, flags, description


def _function_flags(value) -> frozenset[bytes]:
    error = "ERR flags argument to redis.register_function must be a table representing function flags"
    if not _is_table(value):
        raise _raise(error)
    flags = set()
    for flag in value.values():
        if flag.__class__ is not bytes:
            raise _raise(error)
        if flag.lower() not in _FLAGS:
            raise _raise("ERR unknown flag given")
        flags.add(flag.lower())
    return frozenset(flags)


_VALID_NAME = re.compile(rb"[A-Za-z0-9_]+")
_INVALID_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must be at least one "
                 "character long")


def library_metadata(source: bytes) -> tuple[bytes, bytes]:
    """The engine and name of a library's shebang line, refused as Redis's functionExtractLibMetaData
    and functionsCreateWithLibraryCtx refuse them."""
    if not source.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    end = source.find(b"\n")
    if end < 0:
        raise CommandError("ERR Invalid library metadata")
    try:
        parts = [p.encode("latin-1") for p in split_args(source[:end].decode("latin-1"))]
    except ValueError:
        raise CommandError("ERR Invalid library metadata") from None
    if not parts:
        raise CommandError("ERR Invalid library metadata")
    name = None
    for part in parts[1:]:
        if part.lower().startswith(b"name="):
            if name is not None:
                raise CommandError("ERR Invalid metadata value, name argument was given multiple times")
            name = part[5:]
        else:
            raise CommandError(f"ERR Invalid metadata value given: {_text(part)}")
    if name is None:
        raise CommandError("ERR Library name was not given")
    if not _VALID_NAME.fullmatch(name):
        raise CommandError("ERR " + _INVALID_NAME)
    engine = parts[0][2:]
    if engine.upper() != b"LUA":
        raise CommandError(f"ERR Engine '{_text(engine)}' not found")
    return engine, name


class Lrand48:
    """The 48-bit generator Redis gives math.random (redisLrand48), seeded as the server starts it."""

    def __init__(self) -> None:
        self.state = 0x1234ABCD330E

    def seed(self, value: int) -> None:
        self.state = ((value & 0xFFFFFFFF) << 16) | 0x330E

    def next(self) -> int:
        self.state = (0x5DEECE66D * self.state + 0xB) & ((1 << 48) - 1)
        return self.state >> 17


_ENV_SOURCE = Path(__file__).with_name("lua_env.lua").read_bytes()


def _ignore(*_: object) -> None:
    return None


def _same(value: object) -> object:
    return value


def _through_lupa(helper):
    """A run's helper of lua_env.lua as _invoke calls runners: (function, count, the command's arguments,
    the Run, what the accelerator may check itself) (the accelerator's run reads the keys and arguments
    from the command itself: a slice and a tuple less per run)."""
    def run(function, count: int, args: list[bytes], _run: Run, _checks: int):
        return helper(function, count, *args[3:])
    return run


def _key_count(args: list[bytes], not_integer: str | None = None) -> int:
    """args[2], the number of keys among the arguments after it, as EVAL and FCALL check it."""
    count = integer(args[2], not_integer) if not_integer else integer(args[2])
    if count > len(args) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if count < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return count


def _shebang(body: bytes, valkey: bool = False) -> tuple[frozenset[bytes] | None, int]:
    """The flags of a script's '#!lua flags=...' line and its length (Redis's evalExtractShebangFlags)."""
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    if end < 0:
        raise CommandError("ERR Invalid script shebang")
    parts = body[:end].split()
    if not parts:
        raise CommandError("ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        if valkey:
            raise CommandError(f"ERR Could not find scripting engine '{_text(parts[0][2:])}'")
        raise CommandError(f"ERR Unexpected engine in script shebang: {_text(parts[0])}")
    flags: set[bytes] = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise CommandError(f"ERR Unknown lua shebang option: {_text(part)}")
        for flag in part[6:].split(b","):
            if flag not in _FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {_text(flag)}")
            flags.add(flag)
    return frozenset(flags), end


def _library_name(source: bytes) -> bytes:
    from rdbtools.keyspace.model import library_name

    return library_name(source)



def _error_table_text(text: str) -> str:
    """An error reply as redis.call raises it (luaPushErrorBuff: the code, a space, the message)."""
    code, space, message = text.partition(" ")
    if not space:
        code, message = "ERR", text
    return f"{code} {message.strip(chr(13) + chr(10))}"


def _raise(text: str) -> LuaRaise:
    """An error as Redis's luaPushError + lua_error raise it: a table with its err field."""
    return LuaRaise(text.encode(), table=True)



def _error_reply(count, *args) -> bytes:
    if count != 1 or args[0].__class__ is not bytes:
        return b"ERR wrong number or type of arguments"
    text = args[0] if args[0].startswith(b"-") else b"-" + args[0]
    return _error_table_text(_text(text[1:])).encode()


_LOG_LEVELS = (logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)


def _lua_number(value) -> float | None:
    """lua_isnumber / lua_tonumber: a number, or a string Lua reads as one (decimal or hex, spaces around)."""
    if value.__class__ in (int, float):
        return value
    if value.__class__ is not bytes or b"_" in value:
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(int(text, 16)) if text[:2].lower() == b"0x" else None
    except ValueError:
        return None


def _lua_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _number_text(value) -> bytes:
    """A Lua number as Lua's tostring prints it ("%.14g")."""
    if value.__class__ is bytes:
        return value
    return (b"%.14g" % value) if value.__class__ in (int, float) else b""


def _printf_double(value: float) -> bytes:
    """A double as Redis 7.0 prints it ("%.17g", inf spelled out)."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def _is_table(value) -> bool:
    return value is not None and value.__class__ not in (bytes, int, float, bool) and lua51.lua_type(value) == "table"


def _bytes(value) -> bytes:
    return value if value.__class__ is bytes else _number_text(value) if value.__class__ in (int, float) else (
        str(value).encode())


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
