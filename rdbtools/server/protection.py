"""Redis 7.0's protected actions: DEBUG, MODULE LOAD/LOADEX/UNLOAD and CONFIG SET of ``dir`` and
``dbfilename`` run only as a directive allows them (``enable-debug-command``, ``enable-module-command``,
``enable-protected-configs``): ``yes``, ``local`` (a loopback or unix socket connection) or ``no``, the
default. The directives are fixed at start (CONFIG SET calls them immutable); Redis 6.2 has none of this.

What "local" means moved: Redis 7.0 takes the peer addresses 127.0.0.1 and ::1 only, Redis 7.2+ (and
Valkey) any 127.x.y.z and ::1 (tests/server/test_protected_actions.py compares each with the real server).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from rdbtools.keyspace.commands import CommandError

if TYPE_CHECKING:
    from rdbtools.rdb.targets import Target
    from rdbtools.server.clients import Client
    from rdbtools.server.command_table import CommandSpec
    from rdbtools.server.config import ServerConfig

DEBUG_SETTING, MODULE_SETTING, CONFIG_SETTING = "enable-debug-command", "enable-module-command", \
    "enable-protected-configs"
SETTINGS = (DEBUG_SETTING, MODULE_SETTING, CONFIG_SETTING)
VALUES = ("no", "yes", "local")  # in Redis's order (its error lists them so)
PROTECTED_CONFIGS = frozenset({"dir", "dbfilename"})
#: the commands Redis flags "protected" (a flag COMMAND does not show), with the directive that allows each
PROTECTED_COMMANDS = {b"debug": DEBUG_SETTING, b"module|load": MODULE_SETTING, b"module|loadex": MODULE_SETTING,
                      b"module|unload": MODULE_SETTING}


def protects(target: Target) -> bool:
    """Whether the target's server has protected actions at all (Redis 7.0+, Valkey)."""
    return target.valkey_server or target.version >= (7, 0)


def mark_commands(catalog: dict[bytes, CommandSpec], config: ServerConfig) -> None:
    """Give each protected command of this server the directive it needs, unless that says yes to
    everyone: dispatch then asks ``refusal`` for those calls only."""
    if not protects(config.target):
        return
    for name, setting in PROTECTED_COMMANDS.items():
        container, _, sub = name.partition(b"|")
        spec = catalog.get(container)
        if spec is not None and sub:
            spec = (spec.subcommands or {}).get(sub)
        if spec is not None and config[setting] != "yes":
            spec.protected = setting


def refusal(config: ServerConfig, client: Client, setting: str) -> CommandError | None:
    """The error of a protected command this client may not run (processCommand's, after the arity check)."""
    if allows(config, client, setting):
        return None
    command = "DEBUG" if setting == DEBUG_SETTING else "MODULE"
    return CommandError(f"ERR {command} command not allowed. If the {setting} option is set to \"local\", you can "
                        "run it from a local connection, otherwise you need to set this option in the configuration "
                        "file, and then restart the server.")


def config_refused(config: ServerConfig, client: Client, name: str) -> bool:
    """Whether CONFIG SET of this parameter is refused as a protected config for this client."""
    return protects(config.target) and name.lower() in PROTECTED_CONFIGS and not allows(config, client, CONFIG_SETTING)


def allows(config: ServerConfig, client: Client, setting: str) -> bool:
    value = config[setting]
    return value == "yes" or (value == "local" and is_local(client.address, config.target))


def protected_mode_refuses(config: ServerConfig, address: str, default_nopass: bool) -> bool:
    """Whether protected mode turns a new connection away: the default user has no password and the peer
    is not local as the target sees it. Redis 6.2 protects only a server started without a bind address,
    which serve never is (it binds 127.0.0.1 unless told otherwise)."""
    target = config.target
    if not config["protected-mode"] or not default_nopass or is_local(address, target):
        return False
    return target.valkey_server or target.version >= (7, 0)


_PROTECTED = (  # Redis 7.2+'s words; protected_mode_text changes them for the others
    "DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    "for the default user. In this mode connections are only accepted from the loopback interface. If "
    "you want to connect from external computers to Redis you may adopt one of the following solutions: "
    "1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback "
    "interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis "
    "is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change "
    "permanent. 2) Alternatively you can just disable the protected mode by editing the Redis "
    "configuration file, and setting the protected mode option to 'no', and then restarting the server. "
    "3) If you started the server manually just for testing, restart it with the '--protected-mode no' "
    "option. 4) Set up an authentication password for the default user. NOTE: You only need to do one "
    "of the above things in order for the server to start accepting connections from the outside."
)
#: what Redis 7.0 and Valkey say otherwise (Valkey names no server)
_PROTECTED_70 = (("4) Set up an", "4) Setup a an"),)
_PROTECTED_VALKEY = (("Redis is running", "Running"), ("external computers to Redis you", "external computers, you"),
                     ("connecting to Redis from", "connecting from"), ("MAKE SURE Redis is", "MAKE SURE it's"),
                     ("the Redis configuration", "the configuration"))


def protected_mode_text(target: Target) -> str:
    """The DENIED error protected mode closes a connection with, in the target's words."""
    changes = (_PROTECTED_VALKEY if target.valkey_server else () if target.version >= (7, 2)
               else _PROTECTED_70)
    text = _PROTECTED
    for theirs, ours in changes:
        text = text.replace(theirs, ours)
    return text


def is_local(address: str, target: Target) -> bool:
    """Whether a client's connection counts as local: a unix socket, or a loopback peer (Redis 7.0's
    islocalClient: 127.0.0.1 or ::1; 7.2's connIsLocal and Valkey's: "127." or ::1)."""
    host = address.rpartition(":")[0].removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True  # not an IP address: a unix socket's path
    if host == "::1" or host == "127.0.0.1":
        return True
    return (target.valkey_server or target.version >= (7, 2)) and host.startswith("127.")
