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
_U32 = struct.Struct(">I").unpack_from


def _strings(data: bytes, pos: int, count: int) -> list[bytes]:
    """``count`` SSH ``string`` fields from ``pos`` on; ValueError when the data ends first.

    One loop over struct.unpack_from: this runs for every connection, before auth.
    """
    end = len(data)
    out: list[bytes] = []
    for _ in range(count):
        if pos + 4 > end:
            raise ValueError("truncated")
        start = pos + 4
        pos = start + _U32(data, pos)[0]
        if pos > end:
            raise ValueError("truncated")
        out.append(data[start:pos])
    return out


def _names(raw: bytes) -> list[str]:
    names = raw[:_MAX_NAMELIST].decode("ascii", errors="replace").split(",")
    return names if "" not in names else [name for name in names if name]


def client_offer(hash_prefix: bytes) -> SshClient | None:
    """The SshClient event body from ``conn.get_hash_prefix()``; None before the client's version."""
    try:
        raw_version, _ours, kexinit = _strings(hash_prefix, 0, 3)
    except ValueError:
        return None
    if not raw_version:
        return None
    version = raw_version.decode("ascii", errors="replace")
    if not kexinit:  # a scanner that sent its version and left: still worth a record, without HASSH
        return SshClient(version=version, kex=[], host_keys=[], ciphers=[], macs=[], compression=[], hassh="")
    return parse_kexinit(kexinit, version)


def parse_kexinit(payload: bytes, version: str) -> SshClient | None:
    """A KEXINIT payload (message byte 20, cookie, ten name-lists...) as an SshClient record."""
    try:  # after SSH_MSG_KEXINIT and the 16-byte cookie: kex, host keys, then each list both ways
        kex, host_keys, ciphers_cs, _, macs_cs, _, compression_cs = _strings(payload, 1 + 16, 7)
    except ValueError:
        return None
    kex_names, cipher_names, mac_names, compression_names = (
        _names(kex), _names(ciphers_cs), _names(macs_cs), _names(compression_cs))
    return SshClient(version=version, kex=kex_names, host_keys=_names(host_keys), ciphers=cipher_names,
                     macs=mac_names, compression=compression_names,
                     hassh=hassh(kex_names, cipher_names, mac_names, compression_names))


def hassh(kex: list[str], ciphers: list[str], macs: list[str], compression: list[str]) -> str:
    """HASSH: md5 of 'kex;ciphers;macs;compression' (client to server), each list comma-joined."""
    text = f"{','.join(kex)};{','.join(ciphers)};{','.join(macs)};{','.join(compression)}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
