"""The client's identification and KEXINIT offer, parsed for the SshClient event (and HASSH).

Why parse bytes ourselves: asyncssh reads the peer's name-lists inside a private method of its
connection class and keeps only the raw KEXINIT payload. Its one public way to that payload is
``SSHConnection.get_hash_prefix()`` (exposed because key exchange hashes it): the client version
string, the server version string, the client KEXINIT and the server KEXINIT, each as an SSH
``string``. Parsing that with RFC 4253 section 7.1 needs no subclass of asyncssh's private
connection class, no monkeypatching, and survives asyncssh upgrades; and it is available as
soon as the client's KEXINIT has arrived, even for clients (scanners) that stop before auth.
"""

from __future__ import annotations

import hashlib
import struct

from honeyguard.model import SshClient

_MAX_NAMELIST = 8192  # a hostile client's list is cut here; real ones are under 2 KB


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise ValueError("truncated")
        (length,) = struct.unpack_from(">I", self.data, self.pos)
        start = self.pos + 4
        if start + length > len(self.data):
            raise ValueError("truncated")
        self.pos = start + length
        return self.data[start: start + length]

    def skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise ValueError("truncated")
        self.pos += count

    def namelist(self) -> list[str]:
        raw = self.string()[:_MAX_NAMELIST].decode("ascii", errors="replace")
        return [name for name in raw.split(",") if name]


def client_offer(hash_prefix: bytes) -> SshClient | None:
    """The SshClient event body from ``conn.get_hash_prefix()``; None before the client's version."""
    try:
        reader = _Reader(hash_prefix)
        version = reader.string().decode("ascii", errors="replace")
        reader.string()  # our own version
        kexinit = reader.string()
    except ValueError:
        return None
    if not version:
        return None
    if not kexinit:  # a scanner that sent its version and left: still worth a record, without HASSH
        return SshClient(version=version, kex=[], host_keys=[], ciphers=[], macs=[], compression=[], hassh="")
    return parse_kexinit(kexinit, version)


def parse_kexinit(payload: bytes, version: str) -> SshClient | None:
    """A KEXINIT payload (message byte 20, cookie, ten name-lists...) as an SshClient record."""
    reader = _Reader(payload)
    try:
        reader.skip(1 + 16)  # SSH_MSG_KEXINIT, cookie
        kex, host_keys = reader.namelist(), reader.namelist()
        ciphers_cs, _ = reader.namelist(), reader.namelist()
        macs_cs, _ = reader.namelist(), reader.namelist()
        compression_cs = reader.namelist()
    except ValueError:
        return None
    return SshClient(version=version, kex=kex, host_keys=host_keys, ciphers=ciphers_cs, macs=macs_cs,
                     compression=compression_cs, hassh=hassh(kex, ciphers_cs, macs_cs, compression_cs))


def hassh(kex: list[str], ciphers: list[str], macs: list[str], compression: list[str]) -> str:
    """HASSH: md5 of 'kex;ciphers;macs;compression' (client to server), each list comma-joined."""
    text = ";".join(",".join(part) for part in (kex, ciphers, macs, compression))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
