"""The SSH service: an asyncssh server that looks like a real OpenSSH build and records everything.

Per listener, built once: the persona (version banner, algorithm offer, fake system), the host
keys (kept under <data_dir>/ssh/), and the asyncssh options. Per connection: a
HoneypotConnection (sshd/server.py) that records and enforces caps; sessions go to the emulated
shell, exec requests to the same emulator, SFTP to a fake filesystem, ``scp -t`` to our sink.
"""

from __future__ import annotations

import logging

import asyncssh

from honeyguard.config import Listener
from honeyguard.errors import ServiceError
from honeyguard.sensor import personas
from honeyguard.sensor.runtime import Listening, ServiceContext
from honeyguard.sensor.sshd.chacha import use_native_chacha
from honeyguard.sensor.sshd.channels import handle_process
from honeyguard.sensor.sshd.hostkeys import load_or_create_host_keys
from honeyguard.sensor.sshd.persona import SshAlgorithms, SshPersona
from honeyguard.sensor.sshd.server import HoneypotConnection, SshServiceState, state_for
from honeyguard.sensor.sshd.sftp import FakeSFTPServer

log = logging.getLogger(__name__)

DEFAULT_PERSONA = "openssh-ubuntu-22.04"
KEX_MARKERS = {"ext-info-s", "kex-strict-s-v00@openssh.com"}  # signals in the kex list, not algorithms


class SshService:
    name = "ssh"

    async def start(self, listener: Listener, ctx: ServiceContext) -> Listening:
        persona = find_persona(listener.persona or DEFAULT_PERSONA, ctx)
        keys = load_or_create_host_keys(ctx.data_dir / "ssh")
        state = state_for(listener, ctx, persona, kex_markers(persona.algorithms))
        options = server_options(persona, keys, ctx)
        # asyncssh's chacha20-poly1305 is ~19% of our CPU per connection: the native one replaces
        # it in asyncssh's process-wide registry (its only hook; sshd/chacha.py says why)
        use_native_chacha()
        port = listener.bind_port or listener.port
        return await asyncssh.create_server(lambda: HoneypotConnection(state), listener.host, port,
                                            options=options)


def find_persona(persona_id: str, ctx: ServiceContext) -> SshPersona:
    return personas.find_persona(SshPersona, persona_id, ctx.persona_dirs)


def server_options(persona: SshPersona, keys: list[asyncssh.SSHKey], ctx: ServiceContext
                   ) -> asyncssh.SSHServerConnectionOptions:
    """asyncssh options built once per listener (building them per connection would cost CPU)."""
    algs = _negotiable(persona.algorithms)
    limits = ctx.limits
    options = asyncssh.SSHServerConnectionOptions(
        server_version=persona.software_version,
        server_host_keys=_host_keypairs(keys, algs.host_keys),
        kex_algs=algs.kex, encryption_algs=algs.ciphers, mac_algs=algs.macs,
        compression_algs=algs.compression,
        **({"signature_algs": algs.signatures} if algs.signatures else {}),
        process_factory=handle_process,
        sftp_factory=FakeSFTPServer,
        allow_scp=False,  # `scp -t` is answered by our own sink (sshd/scp.py), never by asyncssh's
        agent_forwarding=False, x11_forwarding=False,
        encoding="utf-8", errors="replace", utf8_decode_errors="backslashreplace",
        line_editor=True, line_history=100, max_line_length=limits.max_buffer_bytes,
        login_timeout=limits.session_timeout,
        keepalive_interval=0,
        rdns_lookup=False,  # the sensor never looks anything up on the network
        # No GSSAPI, as Ubuntu's and Debian's sshd_config: asyncssh otherwise tries a GSS server per
        # connection (an exception raised and caught each time without python-gssapi; with it, gss-*
        # kex and gssapi-with-mic auth offers that the persona's OpenSSH never makes) and resolves
        # the host's FQDN at start.
        gss_host=None,
    )
    return options


def kex_markers(algs: SshAlgorithms) -> tuple[bytes, ...]:
    """The pseudo-algorithms the persona's KEXINIT lists (OpenSSH < 9.6 lists no ext-info-s).

    asyncssh always turns strict key exchange on when the client asks for it, so
    kex-strict-s-v00 stays offered whatever the persona says: offering less would break clients.
    """
    markers = [name for name in algs.kex if name in KEX_MARKERS]
    if "kex-strict-s-v00@openssh.com" not in markers:
        markers.append("kex-strict-s-v00@openssh.com")
    return tuple(name.encode() for name in markers)


def _negotiable(algs: SshAlgorithms) -> SshAlgorithms:
    """The persona's offer minus what asyncssh cannot negotiate (e.g. sntrup761), order kept."""
    from asyncssh.compression import get_compression_algs
    from asyncssh.encryption import get_encryption_algs
    from asyncssh.kex import get_kex_algs
    from asyncssh.mac import get_mac_algs
    from asyncssh.public_key import get_public_key_algs

    def keep(names: list[str], supported: list[bytes], what: str) -> list[str]:
        known = {alg.decode() for alg in supported}
        dropped = [name for name in names if name not in known]
        if dropped:
            log.debug("ssh persona: %s not offered (unsupported): %s", what, ", ".join(dropped))
        kept = [name for name in names if name in known]
        if not kept:
            raise ServiceError(f"ssh persona: none of its {what} algorithms is supported")
        return kept

    return SshAlgorithms(
        kex=keep([name for name in algs.kex if name not in KEX_MARKERS], get_kex_algs(), "kex"),
        host_keys=algs.host_keys,
        ciphers=keep(algs.ciphers, get_encryption_algs(), "cipher"),
        macs=keep(algs.macs, get_mac_algs(), "mac"),
        compression=keep(algs.compression, get_compression_algs(), "compression"),
        signatures=keep(algs.signatures, get_public_key_algs(), "signature") if algs.signatures else [],
    )


def _host_keypairs(keys: list[asyncssh.SSHKey], order: list[str]) -> list[asyncssh.SSHKeyPair]:
    """Key pairs whose host key algorithms are the persona's, in its order (OpenSSH's, not asyncssh's).

    asyncssh offers each key's algorithms in the order the keys are given, and for RSA adds
    algorithms OpenSSH never offers (ssh-rsa-sha256@ssh.com...). A key pair's
    ``host_key_algorithms`` is what it offers, so each one is set to the persona's list.
    """
    pairs: list[asyncssh.SSHKeyPair] = []
    for name in order:
        for pair in asyncssh.load_keypairs(keys):
            if name.encode() in pair.host_key_algorithms and all(p.algorithm != pair.algorithm for p in pairs):
                pair.host_key_algorithms = tuple(a.encode() for a in order
                                                 if a.encode() in pair.host_key_algorithms)
                pairs.append(pair)
    if not pairs:
        raise ServiceError("ssh persona: none of its host key algorithms matches the host keys")
    return pairs


SERVICE = SshService()

__all__ = ["SERVICE", "SshServiceState"]
