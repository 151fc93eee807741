"""SSH personas: the OpenSSH build a sensor pretends to be, and the system behind its shell.

A persona file (content/personas/*.yaml, ``service: ssh``) names the exact version banner, the
key exchange / host key / cipher / MAC / compression offer of that build, the hostname, and
the fake system facts the emulated shell answers from.
"""

from __future__ import annotations

import msgspec

from honeyguard.sensor.shell.facts import SystemFacts


class SshAlgorithms(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The server's KEXINIT offer, in the real build's order."""

    kex: list[str]
    host_keys: list[str]
    ciphers: list[str]
    macs: list[str]
    compression: list[str] = msgspec.field(default_factory=lambda: ["none", "zlib@openssh.com"])
    signatures: list[str] = []  # the server-sig-algs extension (client key signatures it accepts)


class SshPersona(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="service", tag="ssh"):
    id: str
    version: str  # the whole identification line, e.g. "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"
    algorithms: SshAlgorithms
    system: SystemFacts
    hostname: str | None = None  # None: the sensor's ssh.hostname setting
    description: str = ""
    source: str = ""  # the file it was loaded from (set by the loader)

    @property
    def software_version(self) -> str:
        """What asyncssh wants: the banner without its 'SSH-2.0-' prefix."""
        return self.version.removeprefix("SSH-2.0-")
