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
