"""HTTPS on the collector: a self-signed certificate made once, curl --cacert, and the sensor's
shipper verifying it by pin or by CA file (a mismatch keeps the events and says so)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography import x509

from honeyguard.config import CollectorLink, load_settings
from honeyguard.errors import ConfigError
from honeyguard.sensor.shipper import Shipper, TlsRefused
from honeyguard.sensor.spool import Spool
from honeyguard.server.tls import prepare_certificate, write_self_signed
from honeyguard.tlsutil import pretty_fingerprint
from tests.conftest import tool
from tests.server.helpers import CollectorProcess, EventMaker
from tests.server.tls_helpers import add_api_token, secure_collector

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    proc = secure_collector(tmp_path_factory.mktemp("tls"), tls="self_signed: true\nnames: [collector.test]")
    proc.sensor_token = proc.add_sensor("edge")  # type: ignore[attr-defined]
    proc.reader = add_api_token(proc, "tls-reader", "reader")  # type: ignore[attr-defined]
    proc.start()
    yield proc
    assert proc.stop() == 0


def _cert(proc: CollectorProcess) -> Path:
    return proc.data_dir / "tls" / "collector.crt"


def _sha256(proc: CollectorProcess) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(_cert(proc).read_text())).hexdigest()


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("curl"), "--silent", "--show-error", "--max-time", "30", "--noproxy", "*", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_curl_with_cacert_reaches_the_https_collector(collector: CollectorProcess) -> None:
    health = _curl("--cacert", str(_cert(collector)), collector.url + "/api/v1/health")
    assert health.returncode == 0, health.stderr
    assert msgspec.json.decode(health.stdout)["status"] == "ok"
    by_name = _curl("--cacert", str(_cert(collector)), f"https://localhost:{collector.port}/api/v1/health")
    assert by_name.returncode == 0, by_name.stderr
    other = _curl("--cacert", str(_cert(collector)), "--resolve", f"collector.test:{collector.port}:127.0.0.1",
                  f"https://collector.test:{collector.port}/api/v1/health")
    assert other.returncode == 0, other.stderr  # server.tls.names went into the SAN


def test_curl_without_the_ca_refuses_and_plain_http_gets_no_answer(collector: CollectorProcess) -> None:
    unverified = _curl(collector.url + "/api/v1/health")
    assert unverified.returncode == 60, unverified.stderr  # CURLE_PEER_FAILED_VERIFICATION
    plain = _curl(f"http://127.0.0.1:{collector.port}/api/v1/health")
    assert plain.returncode != 0 or "ok" not in plain.stdout


def test_the_certificate_is_made_once_with_sans_a_private_key_and_a_printed_fingerprint(
        collector: CollectorProcess) -> None:
    cert = x509.load_pem_x509_certificate(_cert(collector).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "collector.test"} <= set(san.get_values_for_type(x509.DNSName))
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    key = collector.data_dir / "tls" / "collector.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    log = collector.log.read_text()
    assert pretty_fingerprint(_sha256(collector)) in log
    again = prepare_certificate(load_settings(collector.config))  # found, not made again
    assert again is not None and not again.generated and again.sha256 == _sha256(collector)


def _spool(tmp_path: Path, n: int, seed: int) -> tuple[Spool, list[str]]:
    maker = EventMaker("edge", seed=seed)
    events = [maker.connect(T0 + timedelta(milliseconds=i), src_ip="192.0.2.77") for i in range(n)]
    spool = Spool(tmp_path / "spool.sqlite")
    for event in events:
        spool.emit(event)
    spool.flush()
    return spool, [e.id for e in events]


def _ship_once(spool: Spool, link: CollectorLink, token: str) -> int:
    async def main() -> int:
        async with Shipper(spool, link, token) as shipper:
            return await shipper.ship_once()

    return asyncio.run(main())


def _stored_ids(collector: CollectorProcess) -> set[str]:
    response = httpx.get(collector.url + "/api/v1/events", params={"src_ip": "192.0.2.77", "limit": 10000},
                         headers={"Authorization": f"Bearer {collector.reader}"},  # type: ignore[attr-defined]
                         verify=ssl.create_default_context(cafile=str(_cert(collector))), trust_env=False, timeout=60)
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["events"]}


def test_the_shipper_with_the_right_pin_ships(collector: CollectorProcess, tmp_path: Path) -> None:
    spool, ids = _spool(tmp_path, 20, seed=31)
    pin = pretty_fingerprint(_sha256(collector))  # as printed, with colons
    link = CollectorLink(url=collector.url, pin_sha256=pin)
    assert _ship_once(spool, link, collector.sensor_token) == 20  # type: ignore[attr-defined]
    assert spool.pending() == 0
    assert set(ids) <= _stored_ids(collector)


def test_a_wrong_pin_keeps_the_events_and_logs_the_mismatch(collector: CollectorProcess, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    spool, ids = _spool(tmp_path, 5, seed=32)
    wrong = hashlib.sha256(b"another certificate").hexdigest()
    link = CollectorLink(url=collector.url, pin_sha256=wrong, max_backoff=1.0)

    async def main() -> Shipper:
        stop = asyncio.Event()

        async def sleep(_seconds: float) -> None:
            stop.set()  # one attempt is enough

        async with Shipper(spool, link, collector.sensor_token, sleep=sleep) as shipper:  # type: ignore[attr-defined]
            await shipper.run(stop)
        return shipper

    with caplog.at_level(logging.ERROR, logger="honeyguard.sensor.shipper"):
        shipper = asyncio.run(main())
    assert shipper.failures == 1 and shipper.shipped == 0
    assert spool.pending() == 5
    message = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert "pin mismatch" in message
    assert pretty_fingerprint(_sha256(collector)) in message and pretty_fingerprint(wrong) in message
    assert not set(ids) & _stored_ids(collector)


def test_the_shipper_verifies_against_ca_file(collector: CollectorProcess, tmp_path: Path) -> None:
    spool, ids = _spool(tmp_path, 3, seed=33)
    good = CollectorLink(url=collector.url, ca_file=str(_cert(collector)))
    other_cert, other_key = tmp_path / "other.crt", tmp_path / "other.key"
    write_self_signed(other_cert, other_key, ["localhost", "127.0.0.1"])
    bad = CollectorLink(url=collector.url, ca_file=str(other_cert))
    with pytest.raises(TlsRefused, match="ca_file"):
        _ship_once(spool, bad, collector.sensor_token)  # type: ignore[attr-defined]
    assert spool.pending() == 3
    assert _ship_once(spool, good, collector.sensor_token) == 3  # type: ignore[attr-defined]
    assert set(ids) <= _stored_ids(collector)


@pytest.mark.parametrize(("yaml", "message"), [
    ("sensor:\n  collector:\n    url: http://127.0.0.1:1\n    pin_sha256: " + "a" * 64, "https"),
    ("sensor:\n  collector:\n    url: https://127.0.0.1:1\n    pin_sha256: abc", "64 hex"),
    ("server:\n  tls:\n    self_signed: true\n    cert_file: x.crt\n    key_file: x.key", "either"),
    ("server:\n  tls:\n    cert_file: x.crt", "together"),
])
def test_tls_settings_mistakes_are_config_errors(tmp_path: Path, yaml: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_an_unusable_certificate_is_one_clear_error(tmp_path: Path) -> None:
    from tests.server.helpers import honeyguard

    proc = secure_collector(tmp_path / "c", tls=f"cert_file: {tmp_path / 'none.crt'}\nkey_file: {tmp_path / 'k'}")
    result = honeyguard("server", "run", "--config", str(proc.config))
    assert result.returncode == 2
    assert "none.crt" in result.stderr and "Traceback" not in result.stderr
