"""The Event record: one thing that happened at a sensor.

The body is a tagged union keyed by ``kind``; the catalogue of kinds is ``EVENT_KINDS``
and is documented in docs/events.md (a test holds the two together).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

IocRole = Literal["download", "callback", "c2", "miner-pool", "exfil", "unknown"]


class Ioc(msgspec.Struct, frozen=True, kw_only=True):
    """An indicator of compromise revealed by an interaction, with the part it plays."""

    type: str  # ip, domain, url, port, sha256, md5, email, wallet, ...
    value: str
    role: IocRole = "unknown"


class _Body(msgspec.Struct, kw_only=True, tag_field="kind"):
    pass


class Connect(_Body, tag="connect"):
    """A TCP connection was accepted."""


class SessionClosed(_Body, tag="session.closed"):
    """A connection ended; ``reason`` says who or which cap ended it."""

    reason: Literal[
        "client-closed", "server-closed", "idle-timeout", "session-timeout",
        "cap-bytes", "cap-commands", "cap-requests", "shutdown", "error",
    ]
    duration_ms: int
    bytes_in: int
    bytes_out: int


class HttpRequest(_Body, tag="http.request"):
    """One HTTP/1.x request, as received, with the status the persona answered."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]  # in the order received, names as sent
    body: bytes = b""  # the first max_body_bytes
    body_size: int = 0
    body_sha256: str = ""  # of the whole body as received, even when ``body`` is capped
    body_truncated: bool = False
    header_size: int = 0
    tls: bool = False
    status: int = 0


class RawData(_Body, tag="raw.data"):
    """Bytes that are not the listener's protocol (e.g. a TLS ClientHello on a plain port)."""

    reason: Literal["not-http", "tls-clienthello", "oversized-head", "malformed", "unknown"]
    data: bytes  # capped
    size: int
    sha256: str


class SshClient(_Body, tag="ssh.client"):
    """The client's version and algorithm offer, for fingerprinting (HASSH)."""

    version: str
    kex: list[str]
    host_keys: list[str]
    ciphers: list[str]
    macs: list[str]
    compression: list[str]
    hassh: str  # md5 of "kex;ciphers;macs;compression" (client to server)


class SshLogin(_Body, tag="ssh.login"):
    """One authentication attempt."""

    username: str
    method: Literal["password", "publickey", "keyboard-interactive", "none"]
    password: str | None = None
    key_type: str | None = None
    key_fingerprint: str | None = None  # SHA256:... as OpenSSH prints it
    success: bool = False


class SshCommand(_Body, tag="ssh.command"):
    """One command line typed in the emulated shell, or sent as an ``exec`` request."""

    line: str
    channel: Literal["shell", "exec"]
    handled: bool = True  # False when the emulator answered "command not found"


class Download(_Body, tag="download"):
    """A download the attacker asked for (wget, curl, tftp...): recorded, never fetched."""

    url: str
    tool: str
    command: str


class Upload(_Body, tag="upload"):
    """A file the attacker sent (SFTP, SCP, HTTP): kept content-addressed under a size cap."""

    filename: str
    size: int
    sha256: str
    via: Literal["sftp", "scp", "http"]
    stored: bool  # False when over the artifact size cap


class RedisCommand(_Body, tag="redis.command"):
    """One command sent to the Redis emulator (RESP or inline), as its arguments."""

    args: list[str]  # the command name then its arguments; non-UTF-8 bytes backslash-escaped, each capped
    args_count: int = 0  # how many arguments arrived (``args`` keeps the first ones)
    handled: bool = True  # False when the emulator answered "unknown command"


EventBody = (
    Connect | SessionClosed | HttpRequest | RawData | SshClient | SshLogin | SshCommand | Download | Upload
    | RedisCommand
)

#: Every event kind, from the body types' tags. docs/events.md documents each one.
EVENT_KINDS: tuple[str, ...] = tuple(
    str(cls.__struct_config__.tag) for cls in EventBody.__args__
)

#: Each body type's tag: the event kind it goes with.
_KIND_OF: dict[type, str] = {cls: str(cls.__struct_config__.tag) for cls in EventBody.__args__}

Protocol = Literal["tcp", "http", "https", "ssh", "telnet", "redis", "smb", "other"]


class Event(msgspec.Struct, kw_only=True):
    """One thing that happened at a sensor, with its detection labels."""

    id: str  # UUIDv7: time-ordered, and the idempotency key of ingest
    ts: datetime  # UTC
    sensor: str
    location: str
    session: str
    kind: str
    src_ip: str
    src_port: int
    dst_ip: str = ""
    dst_port: int
    protocol: str
    persona: str = ""
    body: EventBody
    rules: list[str] = []
    cves: list[str] = []
    techniques: list[str] = []
    iocs: list[Ioc] = []

    def __post_init__(self) -> None:
        # runs for every event decoded: the tag from a table (``__struct_config__`` builds a
        # config object on each read, a third of this check's time)
        if self.kind != _KIND_OF.get(type(self.body)) or self.ts.tzinfo is None:
            self._refuse()

    def _refuse(self) -> None:
        tag = self.body.__struct_config__.tag
        if self.kind != tag:
            raise ValueError(f"kind {self.kind!r} does not match body kind {tag!r}")
        if self.ts.tzinfo is None:
            raise ValueError("ts must be timezone-aware (UTC)")


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)
_list_decoder = msgspec.json.Decoder(list[Event])


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    return _decoder.decode(data)


def decode_events(data: bytes | str) -> list[Event]:
    return _list_decoder.decode(data)
