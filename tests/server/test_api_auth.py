"""Reads need a reader token when server.require_auth is on; each kind of credential opens only its
own endpoints (401 for no or unknown credentials, 403 for a valid one of the wrong kind)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from honeyguard.config import ServerSettings, load_settings
from honeyguard.server.auth import reads_need_token
from tests.server.helpers import CollectorProcess, EventMaker, honeyguard, ndjson, post_events
from tests.server.tls_helpers import add_api_token, secure_collector

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
READS = ["/api/v1/events", "/api/v1/indicators", "/api/v1/indicators/198.51.100.1", "/api/v1/decisions",
         "/api/v1/decisions/198.51.100.1", "/api/v1/findings", "/api/v1/blocklist/txt"]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    proc = secure_collector(tmp_path_factory.mktemp("auth"), require_auth=True)
    proc.sensor_token = proc.add_sensor("alpha")  # type: ignore[attr-defined]
    proc.reader = add_api_token(proc, "analyst", "reader")  # type: ignore[attr-defined]
    proc.admin = add_api_token(proc, "ops", "admin")  # type: ignore[attr-defined]
    bouncer = honeyguard("bouncer", "add", "fw1", "--config", str(proc.config))
    assert bouncer.returncode == 0, bouncer.stderr
    proc.bouncer_key = bouncer.stdout.strip()  # type: ignore[attr-defined]
    proc.start()
    yield proc
    assert proc.stop() == 0


def _get(collector: CollectorProcess, path: str, token: str | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.get(collector.url + path, headers=sent, trust_env=False, timeout=60)


@pytest.mark.parametrize("path", READS)
def test_reads_without_a_token_are_401_with_a_challenge(collector: CollectorProcess, path: str) -> None:
    response = _get(collector, path)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert _get(collector, path, "hga_" + "0" * 64).status_code == 401
    assert _get(collector, path, headers={"Authorization": "Basic YW5hbHlzdDp4"}).status_code == 401


@pytest.mark.parametrize("path", READS)
def test_reader_and_admin_tokens_read(collector: CollectorProcess, path: str) -> None:
    for token in (collector.reader, collector.admin):  # type: ignore[attr-defined]
        response = _get(collector, path, token)
        assert response.status_code in (200, 404), response.text  # 404: nothing about that value yet
        if path.endswith("198.51.100.1"):
            assert response.status_code == 404 and "no " in response.text


@pytest.mark.parametrize("path", READS)
def test_a_sensor_token_on_a_read_endpoint_is_403(collector: CollectorProcess, path: str) -> None:
    response = _get(collector, path, collector.sensor_token)  # type: ignore[attr-defined]
    assert response.status_code == 403, response.text
    assert "ingest" in response.text


def test_a_bouncer_key_opens_only_the_crowdsec_endpoints(collector: CollectorProcess) -> None:
    key = {"X-Api-Key": collector.bouncer_key}  # type: ignore[attr-defined]
    assert _get(collector, "/v1/decisions/stream?startup=true", headers=key).status_code == 200
    refused = _get(collector, "/api/v1/events", headers=key)
    assert refused.status_code == 403 and "bouncer" in refused.text
    assert _get(collector, "/api/v1/events", headers={"X-Api-Key": "f" * 48}).status_code == 401
    # and API tokens do not open the bouncer API
    assert _get(collector, "/v1/decisions/stream", collector.reader).status_code == 401  # type: ignore[attr-defined]


def test_only_sensor_tokens_ingest(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=41)
    events = [maker.connect(T0, src_ip="192.0.2.41") for _ in range(3)]
    for token in (collector.reader, collector.admin):  # type: ignore[attr-defined]
        refused = post_events(collector.url, token, ndjson(events))
        assert refused.status_code == 403, refused.text
    accepted = post_events(collector.url, collector.sensor_token, ndjson(events))  # type: ignore[attr-defined]
    assert accepted.json() == {"accepted": 3, "duplicates": 0}
    stored = _get(collector, "/api/v1/events?src_ip=192.0.2.41", collector.reader)  # type: ignore[attr-defined]
    assert len(stored.json()["events"]) == 3


def test_health_and_schema_stay_open(collector: CollectorProcess) -> None:
    assert _get(collector, "/api/v1/health").json()["status"] == "ok"
    assert _get(collector, "/schema/openapi.json").status_code == 200


def test_token_add_list_revoke_through_the_executable(collector: CollectorProcess) -> None:
    config = ["--config", str(collector.config)]
    added = honeyguard("token", "add", "ci-job", "--role", "reader", *config)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("hga_") and len(token) == 68 and "not shown again" in added.stderr
    listed = honeyguard("token", "list", *config)
    assert listed.returncode == 0 and "ci-job" in listed.stdout and "analyst" in listed.stdout
    assert token not in listed.stdout
    again = honeyguard("token", "add", "ci-job", *config)
    assert again.returncode == 2 and "already exists" in again.stderr
    revoked = honeyguard("token", "revoke", "ci-job", *config)
    assert revoked.returncode == 0, revoked.stderr
    row = next(line for line in honeyguard("token", "list", *config).stdout.splitlines() if "ci-job" in line)
    assert row.count(str(datetime.now(UTC).year)) == 2  # created and revoked
    assert _get(collector, "/api/v1/events", token).status_code == 401  # never cached: refused at once
    unknown = honeyguard("token", "revoke", "no-such", *config)
    assert unknown.returncode == 2 and "no-such" in unknown.stderr and "Traceback" not in unknown.stderr
    bad_role = honeyguard("token", "add", "x", "--role", "root", *config)
    assert bad_role.returncode == 2 and "role" in bad_role.stderr


def test_cli_reads_send_the_token_from_option_env_or_file(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=42)
    post_events(collector.url, collector.sensor_token, ndjson([maker.connect(T0, src_ip="192.0.2.42")]))  # type: ignore[attr-defined]
    args = ["events", "list", "--json", "--src-ip", "192.0.2.42", "--config", str(collector.config)]
    token_file = collector.data_dir / "api.token"
    token_file.unlink(missing_ok=True)
    without = honeyguard(*args, env={"HONEYGUARD_TOKEN": ""})
    assert without.returncode == 2 and "401" in without.stderr and "token" in without.stderr
    by_option = honeyguard(*args, "--token", collector.reader, env={"HONEYGUARD_TOKEN": ""})  # type: ignore[attr-defined]
    by_env = honeyguard(*args, env={"HONEYGUARD_TOKEN": collector.admin})  # type: ignore[attr-defined]
    token_file.write_text(collector.reader + "\n", encoding="utf-8")  # type: ignore[attr-defined]
    by_file = honeyguard(*args, env={"HONEYGUARD_TOKEN": ""})
    for result in (by_option, by_env, by_file):
        assert result.returncode == 0, result.stderr
        assert [msgspec.json.decode(line)["src_ip"] for line in result.stdout.splitlines()] == ["192.0.2.42"]
    sensor_token = honeyguard(*args, "--token", collector.sensor_token)  # type: ignore[attr-defined]
    assert sensor_token.returncode == 2 and "403" in sensor_token.stderr
    intel = honeyguard("intel", "list", "--json", "--config", str(collector.config), env={"HONEYGUARD_TOKEN": ""})
    assert intel.returncode == 0, intel.stderr
    token_file.unlink()
    refused = honeyguard("intel", "list", "--config", str(collector.config), env={"HONEYGUARD_TOKEN": ""})
    assert refused.returncode == 2 and "401" in refused.stderr


@pytest.mark.parametrize(("host", "need"), [
    ("127.0.0.1", False), ("127.0.0.53", False), ("::1", False), ("localhost", False),
    ("0.0.0.0", True), ("::", True), ("192.0.2.10", True), ("2001:db8::1", True), ("collector.example", True),
])
def test_require_auth_defaults_to_the_bind_address(host: str, need: bool) -> None:
    assert reads_need_token(ServerSettings(host=host)) is need
    assert reads_need_token(ServerSettings(host=host, require_auth=not need)) is (not need)


def test_require_auth_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  host: 0.0.0.0\n  require_auth: false\n", encoding="utf-8")
    assert reads_need_token(load_settings(path).server) is False
    path.write_text("server:\n  host: 0.0.0.0\n", encoding="utf-8")
    assert reads_need_token(load_settings(path).server) is True


def test_a_loopback_collector_with_default_settings_reads_without_a_token(tmp_path: Path) -> None:
    proc = CollectorProcess(tmp_path / "open").start()
    try:
        assert _get(proc, "/api/v1/events").status_code == 200
        assert _get(proc, "/api/v1/decisions").status_code == 200
        # reading needs no token here, but ingest still does
        assert post_events(proc.url, None, b"").status_code == 401
    finally:
        assert proc.stop() == 0
