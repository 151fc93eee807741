"""The telnet service: a telnetd + login(1) + shell that looks like a BusyBox device or a Debian box.

Negotiation (RFC 854/855) is in sensor/telnetd/options.py, the terminal's line discipline in
lines.py, the login dialogue and shell session in session.py, BusyBox's wording in busybox.py;
the shell itself is the SSH service's emulator (sensor/shell). This module loads the persona
and binds.
"""

from __future__ import annotations

import asyncio

from honeyguard.config import Listener, SshSettings
from honeyguard.errors import ServiceError
from honeyguard.sensor import personas
from honeyguard.sensor.runtime import Listening, ServiceContext
from honeyguard.sensor.telnetd.options import command_bytes
from honeyguard.sensor.telnetd.persona import TelnetPersona
from honeyguard.sensor.telnetd.session import TelnetConnection, TelnetServiceState

DEFAULT_PERSONA = "busybox-router"


class TelnetService:
    name = "telnet"

    async def start(self, listener: Listener, ctx: ServiceContext) -> Listening:
        state = state_for(listener, ctx, find_persona(listener.persona or DEFAULT_PERSONA, ctx))
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: TelnetConnection(state), listener.host,
                                        listener.bind_port or listener.port, reuse_address=True, backlog=1024)


def find_persona(persona_id: str, ctx: ServiceContext) -> TelnetPersona:
    return personas.find_persona(TelnetPersona, persona_id, ctx.persona_dirs)


def state_for(listener: Listener, ctx: ServiceContext, persona: TelnetPersona) -> TelnetServiceState:
    try:
        opening = [command_bytes(spec) for spec in persona.negotiation]
        after = [command_bytes(spec) for spec in persona.after_replies]
    except ValueError as exc:
        raise ServiceError(f"telnet persona {persona.id!r}: {exc}") from None
    # a hostname set in the settings wins; left at its default, the persona's own name is used
    configured = ctx.ssh.hostname if ctx.ssh.hostname != SshSettings().hostname else None
    hostname = configured or persona.hostname or ctx.ssh.hostname
    credentials = frozenset((c.username, c.password) for c in ctx.ssh.credentials)
    return TelnetServiceState(ctx=ctx, persona=persona, hostname=hostname, dst_port=listener.port,
                              credentials=credentials, opening=opening, after=after)


SERVICE = TelnetService()
