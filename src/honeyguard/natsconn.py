"""What the NATS sensor side and collector side share: connecting, subjects, the stream.

A sensor publishes gzip NDJSON batches on ``<subject_prefix>.<sensor name>`` into one JetStream
stream; collectors pull them through one durable consumer (docs/collector.md, "NATS JetStream").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from honeyguard.config import NatsLink
from honeyguard.errors import ConfigError

log = logging.getLogger(__name__)

#: A subject token: no separators, no wildcards, no whitespace (NATS subject rules).
_TOKEN = re.compile(r"^[^.*>\s]+$")
CONNECT_TIMEOUT = 5
RECONNECT_WAIT = 1


def check_subject_token(name: str, key: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"{name!r} cannot be a NATS subject token (no '.', '*', '>' or spaces)", key=key)
    return name


def subject_for(link: NatsLink, sensor: str) -> str:
    return f"{link.subject_prefix}.{sensor}"


def all_subjects(link: NatsLink) -> str:
    return f"{link.subject_prefix}.*"


def sensor_of(link: NatsLink, subject: str) -> str | None:
    """The sensor named by a batch's subject, or None when the subject is not one of ours."""
    prefix = link.subject_prefix + "."
    if not subject.startswith(prefix):
        return None
    name = subject[len(prefix):]
    return name if _TOKEN.fullmatch(name) else None


def batch_msg_id(first_id: str, last_id: str) -> str:
    """The Nats-Msg-Id of a batch: a retried batch has the same one, so JetStream drops it."""
    return f"{first_id}..{last_id}"


def _credentials(link: NatsLink) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if link.user is not None:
        options["user"] = link.user
        options["password"] = link.password or ""
    if link.token is not None:
        options["token"] = link.token
    if link.nkey_seed_file is not None:
        options["nkeys_seed"] = link.nkey_seed_file
    if link.credentials_file is not None:
        options["user_credentials"] = link.credentials_file
    return options


async def connect(link: NatsLink, name: str, on_lost: Callable[[], None] | None = None) -> Client:
    """One connection that reconnects forever on its own once it was established; the first
    attempt raises (callers retry with their own backoff). ``on_lost`` runs at each disconnect."""
    async def on_error(exc: Exception) -> None:
        log.warning("nats (%s): %s: %s", name, exc.__class__.__name__, exc)

    made: list[Client] = []

    async def on_disconnect() -> None:
        if made and made[0].is_closed:  # our own close(), not a lost connection
            return
        if on_lost is not None:
            on_lost()
        log.warning("nats (%s): disconnected, reconnecting", name)

    async def on_reconnect() -> None:
        log.info("nats (%s): reconnected", name)

    # The first connect tries each server twice then raises (nats-py would retry a refused
    # password forever with -1); once connected, reconnect forever.
    client = await nats.connect(
        servers=list(link.servers), name=name, connect_timeout=CONNECT_TIMEOUT,
        reconnect_time_wait=RECONNECT_WAIT, max_reconnect_attempts=1, allow_reconnect=True,
        error_cb=on_error, disconnected_cb=on_disconnect, reconnected_cb=on_reconnect,
        **_credentials(link))
    client.options["max_reconnect_attempts"] = -1
    made.append(client)
    return client


async def ensure_stream(js: JetStreamContext, link: NatsLink) -> None:
    """Create the stream when absent. An existing stream is used as it is (its limits are the
    operator's); a different subject set is only logged, since changing it could drop data."""
    try:
        info = await js.stream_info(link.stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(
            name=link.stream, subjects=[all_subjects(link)],
            # work queue: a batch is removed once a collector acknowledged it
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            # full: refuse new batches (sensors keep them spooled) rather than drop unconsumed ones
            discard=DiscardPolicy.NEW,
            max_bytes=link.max_bytes,
            max_age=link.max_age_days * 86400.0,
            duplicate_window=link.duplicate_window,
        ))
        log.info("nats: created stream %s on %s", link.stream, all_subjects(link))
        return
    subjects = info.config.subjects or []
    if all_subjects(link) not in subjects:
        log.warning("nats: stream %s exists with subjects %s, not %s", link.stream, subjects,
                    all_subjects(link))
