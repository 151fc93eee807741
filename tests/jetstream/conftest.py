"""One nats-server with JetStream (file storage in a temporary folder) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jetstream.helpers import NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()
