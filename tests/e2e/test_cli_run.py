"""The run commands as a user types them: errors are one line and exit 2; a sensor's events reach
the collector; SIGTERM leaves every event in the spool."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from honeyguard.model import HttpRequest, decode_event
from honeyguard.sensor.spool import Spool
from honeyguard.store.state import StateStore
from tests.conftest import free_port, tool
from tests.server.helpers import (
    CollectorProcess,
    EventMaker,
    get_events,
    honeyguard,
    ndjson,
    post_events,
    write_config,
)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_sensor_add_prints_a_token_the_state_store_accepts(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    result = honeyguard("sensor", "add", "edge-7", "--config", str(config))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
    assert state.verify_token(token) == "edge-7"
    again = honeyguard("sensor", "add", "edge-7", "--config", str(config))
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("noun", ["server", "sensor"])
def test_bad_config_is_one_line_naming_file_and_line(tmp_path: Path, noun: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data_dir: x\nserver:\n  port: 8470\n  colour: blue\n", encoding="utf-8")
    result = honeyguard(noun, "run", "--config", str(bad))
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1, result.stderr
    assert f"{bad}:4" in lines[0] and "colour" in lines[0]


def test_collector_port_in_use_is_one_line(tmp_path: Path, busy_port: int) -> None:
    config = write_config(tmp_path, busy_port)
    result = honeyguard("server", "run", "--config", str(config))
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and f"port {busy_port}" in lines[0] and "in use" in lines[0], result.stderr


def _sensor_extra(port: int, collector: str = "null") -> str:
    return (f"sensor:\n  name: cli-sensor\n  listeners:\n    - {{service: http, port: {port}}}\n"
            f"  collector: {collector}\n")


def _link(server_port: int) -> str:
    return "{url: 'http://127.0.0.1:" + str(server_port) + "'}"


def test_sensor_port_in_use_is_one_line(tmp_path: Path, busy_port: int) -> None:
    config = write_config(tmp_path, free_port(), extra=_sensor_extra(busy_port))
    result = honeyguard("sensor", "run", "--config", str(config))
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and str(busy_port) in lines[0] and "in use" in lines[0], result.stderr


def test_up_surfaces_a_childs_error_as_one_line_and_exit_2(tmp_path: Path, busy_port: int) -> None:
    server_port = free_port()
    config = write_config(tmp_path, server_port, extra=_sensor_extra(busy_port, _link(server_port)))
    result = honeyguard("up", "--config", str(config), timeout=120)
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and "in use" in lines[0], result.stderr
    token_file = tmp_path / "sensor.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    with socket.socket() as sock:  # the collector child was stopped: its port is free again
        sock.bind(("127.0.0.1", server_port))


def _start(args: list[str], ready: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "honeyguard.cli.main", *args, "--ready-file", str(ready)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc


def test_sensor_run_ships_to_the_collector(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector")
    token = collector.add_sensor("cli-sensor")
    collector.start()
    http_port = free_port()
    sensor_dir = tmp_path / "sensor"
    link = f"{{url: '{collector.url}', token: '{token}', flush_interval: 0.1}}"
    config = write_config(sensor_dir, free_port(), extra=_sensor_extra(http_port, link))
    sensor = _start(["sensor", "run", "--config", str(config)], sensor_dir / "ready", sensor_dir / "log")
    try:
        curl = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", f"http://127.0.0.1:{http_port}/wp-login.php"],
                              timeout=30, check=False)
        assert curl.returncode == 0
        deadline = time.monotonic() + 60
        while not get_events(collector.url, kind="http.request", sensor="cli-sensor")["events"]:
            assert time.monotonic() < deadline, (sensor_dir / "log").read_text()
            time.sleep(0.1)
        event = get_events(collector.url, kind="http.request")["events"][0]
        assert event["body"]["target"] == "/wp-login.php"
    finally:
        sensor.send_signal(signal.SIGTERM)
        assert sensor.wait(60) == 0
        collector.stop()


def test_sigterm_flushes_every_event_to_the_spool(tmp_path: Path) -> None:
    http_port = free_port()
    config = write_config(tmp_path, free_port(), extra=_sensor_extra(http_port))
    sensor = _start(["sensor", "run", "--config", str(config)], tmp_path / "ready", tmp_path / "log")
    with httpx.Client(trust_env=False) as client:
        for i in range(20):
            client.get(f"http://127.0.0.1:{http_port}/probe/{i}")
    sensor.send_signal(signal.SIGTERM)
    assert sensor.wait(60) == 0, (tmp_path / "log").read_text()
    spool = Spool(tmp_path / "spool.sqlite")
    events = [decode_event(item.body) for item in spool.next_batch(10_000)]
    spool.close()
    targets = sorted(e.body.target for e in events if isinstance(e.body, HttpRequest))
    assert targets == sorted(f"/probe/{i}" for i in range(20))
    assert any(e.kind == "session.closed" for e in events)


def test_up_starts_both_and_stops_both_on_sigterm(tmp_path: Path) -> None:
    server_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, server_port, extra=_sensor_extra(http_port, _link(server_port)))
    out = tmp_path / "up.out"
    with out.open("wb") as handle:
        up = subprocess.Popen([sys.executable, "-m", "honeyguard.cli.main", "up", "--config", str(config)],
                              stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while b"Ctrl-C stops both" not in out.read_bytes():
            assert up.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        assert str(http_port) in out.read_text() and str(server_port) in out.read_text()
        with httpx.Client(trust_env=False) as client:
            assert client.get(f"http://127.0.0.1:{http_port}/up-check").status_code > 0
            deadline = time.monotonic() + 60
            while not get_events(f"http://127.0.0.1:{server_port}", kind="http.request")["events"]:
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
    finally:
        up.send_signal(signal.SIGTERM)
        status = up.wait(60)
    assert status == 0, out.read_text()
    for port in (server_port, http_port):  # both children are gone
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_events_list_as_table_and_json(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector")
    token = collector.add_sensor("lister")
    collector.start()
    try:
        maker = EventMaker("lister", seed=31)
        events = [maker.http(datetime(2026, 10, 1, tzinfo=UTC), target=f"/[bold]{i}") for i in range(3)]
        events.append(maker.connect(datetime(2026, 10, 1, tzinfo=UTC)))
        assert post_events(collector.url, token, ndjson(events)).status_code == 200
        as_json = honeyguard("events", "list", "--url", collector.url, "--kind", "http.request", "--json")
        assert as_json.returncode == 0, as_json.stderr
        listed = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert [e["id"] for e in listed] == [e.id for e in events[:3]]
        table = honeyguard("events", "list", "--url", collector.url, "--sensor", "lister", env={"COLUMNS": "200"})
        assert table.returncode == 0 and "4 events" in table.stdout
        assert "/[bold]0" in table.stdout  # attacker text is shown as text, never as markup
    finally:
        collector.stop()


def test_events_list_without_a_collector_is_one_line(tmp_path: Path) -> None:
    result = honeyguard("events", "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and "cannot reach the collector" in lines[0]


def test_unknown_service_is_one_line(tmp_path: Path) -> None:
    extra = f"sensor:\n  listeners:\n    - {{service: gopherx, port: {free_port()}}}\n  collector: null\n"
    config = write_config(tmp_path, free_port(), extra=extra)
    result = honeyguard("sensor", "run", "--config", str(config))
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and "gopherx" in lines[0], result.stderr
