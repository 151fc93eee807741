"""Ingest pushes back while the defense loop is behind: past ``server.defense_backlog`` events
waiting to be folded, a batch is answered 503 with Retry-After and nothing of it is stored; once
the loop catches up, the same batch is accepted. Memory stays bounded under any burst."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from litestar.testing import TestClient

from honeyguard.config import Settings, default_settings
from honeyguard.server.app import create_app
from honeyguard.store.state import StateStore
from tests.server.helpers import EventMaker, ndjson

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _settings(tmp_path: Path, backlog: int) -> Settings:
    settings = default_settings(str(tmp_path))
    server = msgspec.structs.replace(settings.server, defense_backlog=backlog)
    return msgspec.structs.replace(settings, server=server)


def test_busy_defense_gets_503_then_the_batch_is_accepted(tmp_path: Path) -> None:
    settings = _settings(tmp_path, backlog=10)
    token = StateStore(settings.state_url).add_sensor("alpha")
    maker = EventMaker("alpha", seed=3)
    first = [maker.connect(T0 + timedelta(seconds=i), src_ip="192.0.2.30") for i in range(10)]
    second = [maker.connect(T0 + timedelta(minutes=1, seconds=i), src_ip="192.0.2.31") for i in range(5)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with TestClient(create_app(settings)) as client:
        defense = client.app.state.collector.defense
        with defense.lock:  # the loop's worker cannot fold while we hold its lock
            assert client.post("/api/v1/events", content=ndjson(first), headers=headers).status_code == 200
            busy = client.post("/api/v1/events", content=ndjson(second), headers=headers)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "2"
        deadline = time.monotonic() + 60
        while defense.overloaded:
            assert time.monotonic() < deadline, "the defense loop never caught up"
            time.sleep(0.05)  # polling the loop's progress, not synchronising on time
        again = client.post("/api/v1/events", content=ndjson(second), headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == {"accepted": 5, "duplicates": 0}  # the refused batch had stored nothing
