"""The fake filesystem one login session sees, shared by the SSH and telnet shells.

It holds the persona's files, the files generated from its facts (/proc, /etc/hostname...), and,
when the sensor serves honeytokens, ``/root/.aws/credentials`` with a key issued to this session:
an attacker who reads it and later uses the key is linked back to this session (creds/).
"""

from __future__ import annotations

from honeyguard.sensor.runtime import ServiceContext, SessionRecorder
from honeyguard.sensor.shell.facts import SystemFacts
from honeyguard.sensor.shell.fs import FakeFs

SESSION_FS_MAX_BYTES = 8 * 1024 * 1024  # what one session's fake filesystem may hold
BAIT_CREDENTIALS = "/root/.aws/credentials"


def session_fs(facts: SystemFacts, hostname: str, ctx: ServiceContext, rec: SessionRecorder | None, *,
               service: str) -> FakeFs:
    files = {**facts.generated_files(hostname), **facts.files, **honeytoken_files(ctx, rec, service)}
    return FakeFs.build(files, facts.directories, max_bytes=SESSION_FS_MAX_BYTES,
                        now=ctx.clock.now().timestamp() - facts.uptime_seconds)


def honeytoken_files(ctx: ServiceContext, rec: SessionRecorder | None, service: str) -> dict[str, str]:
    """The bait file with a fresh honeytoken key, or nothing when the sensor serves none."""
    if ctx.honeytokens is None or rec is None:
        return {}
    served = ctx.honeytokens.content_for(BAIT_CREDENTIALS, session=rec.session, src_ip=rec.src_ip, service=service)
    return {BAIT_CREDENTIALS: served.body.decode()} if served is not None else {}
