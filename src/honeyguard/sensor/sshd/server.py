"""One SSH connection: the asyncssh server object that records, authenticates and enforces caps.

asyncssh creates one ``HoneypotConnection`` per TCP connection. It records Connect, the client's
offer (SshClient), every login attempt (SshLogin), and session.closed exactly once; it holds the
per-connection state the channels share (the fake filesystem, the command count) and ends the
connection when a cap (idle, session time, commands) is reached or the sensor shuts down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncssh

from honeyguard.config import SshSettings
from honeyguard.model import Connect, SshLogin
from honeyguard.sensor.runtime import IdleTimer, ServiceContext, SessionRecorder
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.fs import FakeFs
from honeyguard.sensor.shell.session_fs import session_fs
from honeyguard.sensor.sshd.artifacts import ArtifactWriter
from honeyguard.sensor.sshd.fingerprint import client_offer
from honeyguard.sensor.sshd.persona import SshPersona

if TYPE_CHECKING:
    from collections.abc import Callable

    from honeyguard.config import Listener
    from honeyguard.sensor.sshd.uploads import PendingUpload

log = logging.getLogger(__name__)

ARTIFACTS_PER_CONNECTION = 4  # stored bytes one connection may leave on disk, in artifact caps
MAX_AUTH_TRIES = 6  # OpenSSH's MaxAuthTries: then "Too many authentication failures"


@dataclass(frozen=True)
class SshServiceState:
    """What every connection of one listener shares (built once at start)."""

    ctx: ServiceContext
    persona: SshPersona
    hostname: str
    dst_port: int
    credentials: frozenset[tuple[str, str]]
    kex_markers: tuple[bytes, ...] = (b"ext-info-s", b"kex-strict-s-v00@openssh.com")

    def extra_kex_names(self) -> list[bytes]:
        """The markers asyncssh appends to our KEXINIT (a new list: asyncssh may keep it)."""
        return list(self.kex_markers)


class HoneypotConnection(asyncssh.SSHServer):
    def __init__(self, state: SshServiceState) -> None:
        self.state = state
        self.ctx = state.ctx
        self.conn: asyncssh.SSHServerConnection | None = None
        self.rec: SessionRecorder | None = None
        self.username = ""
        self.password_failures = 0
        self.auth_failures = 0
        self.commands = 0
        self._reason: str | None = None
        self._client_recorded = False
        self._idle: IdleTimer | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._fs: FakeFs | None = None
        self._admitted = False
        self.artifact_budget = ARTIFACTS_PER_CONNECTION * self.ctx.artifact_max_bytes
        self.pending_uploads: set[PendingUpload] = set()

    # -- connection lifetime ---------------------------------------------------------------
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        if not self.ctx.gate.try_acquire():
            conn.abort()  # over the process-wide cap: refuse before any work
            return
        self._admitted = True
        prepare_connection(conn, self.state.extra_kex_names)
        peer = conn.get_extra_info("peername") or ("", 0)
        local = conn.get_extra_info("sockname") or ("", 0)
        self.rec = self.ctx.recorder(protocol="ssh", persona=self.state.persona.id, peer=peer[:2],
                                     local=local[:2], dst_port=self.state.dst_port)
        self.rec.record(Connect())
        self.ctx.sessions.add(self)
        loop = asyncio.get_running_loop()
        limits = self.ctx.limits
        self._idle = IdleTimer(loop, limits.idle_timeout, lambda: self.close("idle-timeout"))
        self._deadline = loop.call_later(limits.session_timeout, self.close, "session-timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._record_client()
        for upload in list(self.pending_uploads):  # cut off midway: recorded before session.closed
            upload.finish()
        if self._idle is not None:
            self._idle.cancel()
        if self._deadline is not None:
            self._deadline.cancel()
        self.ctx.sessions.discard(self)
        self.ctx.gate.release()
        if self.rec is not None:
            self.rec.close(self._reason or _reason_for(exc))

    def shutdown(self) -> None:
        self.close("shutdown")

    def close(self, reason: str) -> None:
        """End the connection for ``reason`` (the first reason given is the one recorded)."""
        if self._reason is None:
            self._reason = reason
        if self.conn is not None:
            self.conn.close()

    def touch(self) -> None:
        if self._idle is not None:
            self._idle.touch()

    def count_command(self) -> bool:
        """Count one command line; False (and the connection closing) past max_commands."""
        self.commands += 1
        self.touch()
        if self.commands > self.ctx.limits.max_commands:
            self.close("cap-commands")
            return False
        return True

    # -- authentication --------------------------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        self._record_client()
        self.touch()
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def kbdint_auth_supported(self) -> bool:
        return False  # Ubuntu's and Debian's sshd_config turn keyboard-interactive off

    def validate_password(self, username: str, password: str) -> bool:
        success = self._password_accepted(username, password)
        self._record_login(SshLogin(username=username, method="password", password=password, success=success))
        if success:
            self.username = username
        else:
            self.password_failures += 1
        return success

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._record_login(SshLogin(username=username, method="publickey", key_type=key.get_algorithm(),
                                    key_fingerprint=key.get_fingerprint("sha256"), success=False))
        return False  # keys are recorded, never accepted: a password is what we want to learn

    def _password_accepted(self, username: str, password: str) -> bool:
        settings = self.ctx.ssh
        if (username, password) in self.state.credentials:
            return True
        after = settings.accept_after_attempts
        return after > 0 and self.password_failures >= after

    def _record_login(self, body: SshLogin) -> None:
        self.touch()
        if self.rec is not None:
            self.rec.record(body)
        if not body.success:
            self.auth_failures += 1
            if self.auth_failures >= MAX_AUTH_TRIES and self.conn is not None:
                self._reason = self._reason or "server-closed"
                asyncio.get_running_loop().call_soon(
                    self.conn.disconnect, asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                    "Too many authentication failures")

    def _record_client(self) -> None:
        if self._client_recorded or self.conn is None or self.rec is None:
            return
        self._client_recorded = True
        offer = client_offer(self.conn.get_hash_prefix())
        if offer is not None:
            self.rec.record(offer)

    # -- what the channels share -----------------------------------------------------------
    @property
    def fs(self) -> FakeFs:
        """The session's fake filesystem, built on first use (most connections never get here)."""
        if self._fs is None:
            self._fs = session_fs(self.state.persona.system, self.state.hostname, self.ctx, self.rec,
                                  service="ssh")
        return self._fs

    def new_artifact(self) -> ArtifactWriter:
        """A writer for one upload, capped by what this connection may still store on disk."""
        return ArtifactWriter(self.ctx.data_dir / "artifacts", min(self.ctx.artifact_max_bytes, self.artifact_budget))

    def artifact_done(self, writer: ArtifactWriter) -> None:
        if writer.stored:
            self.artifact_budget -= writer.size

    def new_shell(self, events: object) -> Shell:
        peer = self.rec.src_ip if self.rec is not None else ""
        return Shell(facts=self.state.persona.system, hostname=self.state.hostname,
                     username=self.username or "root", fs=self.fs, events=events,  # type: ignore[arg-type]
                     now=self._now, client_ip=peer)

    def _now(self) -> datetime:
        return self.ctx.clock.now().astimezone(UTC)


def prepare_connection(conn: asyncssh.SSHServerConnection, extra_kex_names: Callable[[], list[bytes]]) -> None:
    """What every connection needs before asyncssh sends its KEXINIT (called from connection_made).

    asyncssh rebuilds the whole options object in a worker thread at the first auth request, to
    re-evaluate sshd_config "Match" blocks. We load no sshd_config, so that rebuild changes nothing
    and was the largest CPU cost per connection after the host key signature.
    asyncssh appends "ext-info-s" to every server KEXINIT, which OpenSSH only does from 9.6 on: a
    one-line tell for scanners. Its (private) hook for those extra names returns the persona's.
    """
    conn.reload_config = _no_config_reload  # type: ignore[method-assign]
    conn._get_extra_kex_algs = extra_kex_names  # type: ignore[method-assign]


async def _no_config_reload() -> None:
    return None


_BROKEN = (asyncssh.ProtocolError, asyncssh.KeyExchangeFailed, asyncssh.MACError, asyncssh.CompressionError)


def _reason_for(exc: Exception | None) -> str:
    """A client that hung up or said goodbye (even 'auth cancelled') closed it; broken protocol is an error."""
    if exc is None or isinstance(exc, ConnectionError):
        return "client-closed"
    if isinstance(exc, _BROKEN):
        return "error"
    return "client-closed" if isinstance(exc, asyncssh.DisconnectError) else "error"


def state_for(listener: Listener, ctx: ServiceContext, persona: SshPersona,
              kex_markers: tuple[bytes, ...] = (b"kex-strict-s-v00@openssh.com",)) -> SshServiceState:
    credentials = frozenset((c.username, c.password) for c in ctx.ssh.credentials)
    # a hostname set in the settings wins; left at its default, the persona's own name is used
    configured = ctx.ssh.hostname if ctx.ssh.hostname != SshSettings().hostname else None
    hostname = configured or persona.hostname or ctx.ssh.hostname
    return SshServiceState(ctx=ctx, persona=persona, hostname=hostname, dst_port=listener.port,
                           credentials=credentials, kex_markers=kex_markers)
