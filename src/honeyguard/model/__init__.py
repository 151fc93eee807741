"""Shared typed records. Imports nothing else of honeyguard's."""

from honeyguard.model.event import (
    EVENT_KINDS,
    Connect,
    Download,
    Event,
    EventBody,
    HttpRequest,
    Ioc,
    RawData,
    SessionClosed,
    SshClient,
    SshCommand,
    SshLogin,
    Upload,
    decode_event,
    decode_events,
    encode_event,
)
from honeyguard.model.ids import UuidV7Factory, uuid7_time_ms

__all__ = [
    "EVENT_KINDS",
    "Connect",
    "Download",
    "Event",
    "EventBody",
    "HttpRequest",
    "Ioc",
    "RawData",
    "SessionClosed",
    "SshClient",
    "SshCommand",
    "SshLogin",
    "Upload",
    "UuidV7Factory",
    "decode_event",
    "decode_events",
    "encode_event",
    "uuid7_time_ms",
]
