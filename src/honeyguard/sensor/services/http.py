"""The HTTP/1.x service: a listener that answers as a persona (Apache on Ubuntu by default).

The parsing lives in sensor/http/parser.py, the persona compiled to bytes in responder.py, TLS in
tls.py and the per-connection work in connection.py; this module loads the personas and binds.
"""

from __future__ import annotations

import asyncio
import ssl

from honeyguard.config import Listener
from honeyguard.errors import ServiceError
from honeyguard.sensor.http.connection import HttpConnection, Site
from honeyguard.sensor.http.persona import HttpPersona
from honeyguard.sensor.http.responder import DateLine, Router, systems_of
from honeyguard.sensor.http.tls import server_context
from honeyguard.sensor.personas import load_personas, persona_dirs
from honeyguard.sensor.runtime import Listening, ServiceContext
from honeyguard.sensor.shell.facts import SystemFacts

DEFAULT_PERSONA = "apache-ubuntu"


def build_routers(personas: dict[str, HttpPersona],
                  systems: dict[str, SystemFacts] | None = None) -> dict[str, Router]:
    """Every HTTP persona compiled, with hand-overs between them resolved. ``systems``: the
    system facts of ssh/telnet personas that ``shell:`` replies answer from (default: built-in)."""
    routers = {pid: Router(persona, systems) for pid, persona in personas.items()}
    for pid, router in routers.items():
        missing = router.link(routers)
        if missing:
            raise ServiceError(f"http persona {pid!r} hands paths to unknown persona(s): {', '.join(missing)}")
    return routers


def router_for(listener: Listener, routers: dict[str, Router]) -> Router:
    persona_id = listener.persona or DEFAULT_PERSONA
    router = routers.get(persona_id)
    if router is None:
        known = ", ".join(sorted(routers)) or "none"
        raise ServiceError(f"http listener on port {listener.port}: unknown persona {persona_id!r} "
                           f"(known: {known})")
    return router


def make_site(listener: Listener, ctx: ServiceContext, router: Router,
              ssl_context: ssl.SSLContext | None = None) -> Site:
    keep_alive = router.persona.keep_alive
    return Site(
        ctx=ctx, router=router, port=listener.port, ssl_context=ssl_context, date_line=DateLine(ctx.clock.now),
        keep_line=f"Connection: {keep_alive.connection}\r\n".encode("latin-1"),
        keep_alive_header=keep_alive.header, keep_alive_timeout=keep_alive.timeout,
        max_requests=keep_alive.max_requests, max_commands=ctx.limits.max_commands,
    )


class HttpService:
    name = "http"

    async def start(self, listener: Listener, ctx: ServiceContext) -> Listening:
        every = load_personas(persona_dirs(ctx.persona_dirs))
        personas = {pid: p for pid, p in every.items() if isinstance(p, HttpPersona)}
        router = router_for(listener, build_routers(personas, systems_of(every)))
        ssl_context = None
        if listener.tls:
            common_name = router.persona.tls_common_name or ctx.ssh.hostname
            ssl_context = await asyncio.to_thread(server_context, ctx.data_dir, common_name, ctx.clock.now())
        site = make_site(listener, ctx, router, ssl_context)
        loop = asyncio.get_running_loop()
        # TLS is done by the connection itself (http/tls.py), so that plain HTTP sent to an HTTPS
        # port and failed handshakes are capped and recorded like everything else.
        return await loop.create_server(
            lambda: HttpConnection(site), listener.host, listener.bind_port or listener.port,
            reuse_address=True, backlog=1024,
        )


SERVICE = HttpService()
