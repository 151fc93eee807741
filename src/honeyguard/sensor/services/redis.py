"""The Redis service: a RESP2 server that answers as Redis 5, 6 or 7 and records every command.

The parser is sensor/redisd/resp.py, the commands and their per-connection keyspace
commands.py, INFO info.py, the per-connection protocol connection.py; this module loads the
persona and binds. Nothing sent to it is executed (EVAL), loaded (MODULE LOAD), written to disk
(CONFIG SET dir + SAVE) or connected to (SLAVEOF): each is recorded and answered.
"""

from __future__ import annotations

import asyncio

from honeyguard.config import Listener
from honeyguard.sensor import personas
from honeyguard.sensor.redisd.commands import Shared
from honeyguard.sensor.redisd.connection import RedisConnection
from honeyguard.sensor.redisd.info import run_id
from honeyguard.sensor.redisd.persona import RedisPersona
from honeyguard.sensor.runtime import Listening, ServiceContext

DEFAULT_PERSONA = "redis-6-ubuntu-22.04"


class RedisService:
    name = "redis"

    async def start(self, listener: Listener, ctx: ServiceContext) -> Listening:
        persona = find_persona(listener.persona or DEFAULT_PERSONA, ctx)
        shared = Shared(persona=persona, port=listener.port, run_id=run_id(persona, ctx.identity.name, listener.port),
                        sensor_started=ctx.clock.now().timestamp())
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: RedisConnection(ctx, shared), listener.host,
                                        listener.bind_port or listener.port, reuse_address=True, backlog=1024)


def find_persona(persona_id: str, ctx: ServiceContext) -> RedisPersona:
    return personas.find_persona(RedisPersona, persona_id, ctx.persona_dirs)


SERVICE = RedisService()
