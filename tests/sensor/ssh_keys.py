"""Host keys generated once per test run: an RSA-3072 key costs ~0.5 s, and most tests start a sensor.

Import ``fast_host_keys`` into a test module to use it (it is autouse there). The test of key
persistence itself opts out by name, so that it still proves keys are written and read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import asyncssh
import pytest

from honeyguard.sensor.sshd import hostkeys

_real_generate = asyncssh.generate_private_key


@cache
def _cached(algorithm: str, key_size: int | None) -> asyncssh.SSHKey:
    return _real_generate(algorithm, key_size=key_size) if key_size else _real_generate(algorithm)


@pytest.fixture(autouse=True)
def fast_host_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if "real_keygen" not in request.node.name:
        def generate(algorithm: str, key_size: int | None = None) -> asyncssh.SSHKey:
            return _cached(algorithm, key_size)

        monkeypatch.setattr(hostkeys.asyncssh, "generate_private_key", generate)
    yield
