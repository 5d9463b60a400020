"""The requests of one read, run in order with their replies encoded into one buffer: the edge's (app.py)
loop per request, compiled with the server's core (issue 15), so that the edge's own Python runs once
per read, not once per request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rdbtools.keyspace.commands import Status
from rdbtools.server.admin import record_timing
from rdbtools.server.clients import NO_REPLY
from rdbtools.server.protocol import encode_into

if TYPE_CHECKING:
    from rdbtools.server.clients import Client
    from rdbtools.server.core import Server

_QUEUED: Final = Status("QUEUED")


def run_requests(server: Server, client: Client, requests: list[list[bytes]], out: list[bytes],
                 timed: bool) -> list[list[bytes]]:
    """Run ``requests`` until the client closes or blocks, each reply (and the pushes after it) encoded
    into ``out``; the requests left behind a blocking command, which wait until it is served (as Redis
    does). ``timed``: each command is timed alone (the slow log's or latency monitor's threshold is 0)."""
    for index, request in enumerate(requests):
        if client.closing:
            break
        if _blocked(client):
            return requests[index:]
        reply = server.execute(client, request)
        if client.reply_mode is not None:  # CLIENT REPLY OFF / SKIP
            reply = client.skip_reply(reply)
        if (timed and reply != _QUEUED and reply is not client.last_refusal
                and client.blocked is None):  # each timed alone; a blocked one once served
            record_timing(server, client, request, server.clock() - client.last_interaction)
        if reply is not NO_REPLY:
            encode_into(reply, client.resp == 3, out)
        if client.after_reply:
            for push in client.after_reply:
                encode_into(push, client.resp == 3, out)
            client.after_reply.clear()
    return []


def _blocked(client: Client) -> bool:
    """Not ``client.blocked is not None`` inline: mypy would take client.blocked for None after it, through
    the command that blocks it, and the compiled code checks that type (a TypeError)."""
    return client.blocked is not None
