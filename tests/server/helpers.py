"""A real collector process (`honeyguard server run`) on a free loopback port, for tests."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

from honeyguard.clock import SeededEntropy
from honeyguard.model import Connect, Event, HttpRequest, Ioc, UuidV7Factory, encode_event
from tests.conftest import free_port


def write_config(data_dir: Path, port: int, *, extra: str = "") -> Path:
    path = data_dir / "config.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"data_dir: {data_dir}\nserver:\n  host: 127.0.0.1\n  port: {port}\n"
                    f"detect:\n  enabled: false\n{extra}", encoding="utf-8")
    return path


def honeyguard(*args: str, timeout: float = 60, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "honeyguard.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False)


class CollectorProcess:
    def __init__(self, data_dir: Path, port: int | None = None, command_prefix: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.command_prefix = command_prefix or []  # e.g. `ip netns exec NS`: run it in a namespace
        self.port = port or free_port()
        self.config = write_config(data_dir, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "collector.log"

    def add_sensor(self, name: str) -> str:
        result = honeyguard("sensor", "add", name, "--config", str(self.config))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def start(self, timeout: float = 60) -> CollectorProcess:
        ready = self.data_dir / "collector.ready"
        ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.command_prefix, sys.executable, "-m", "honeyguard.cli.main", "server", "run",
                 "--config", str(self.config), "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited {self.proc.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"collector not ready in {timeout}s: {self.log.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait(30)


class EventMaker:
    """Valid events with time-ordered ids, deterministic."""

    def __init__(self, sensor: str, seed: int = 1) -> None:
        self.sensor = sensor
        self.ids = UuidV7Factory(SeededEntropy(seed))

    def connect(self, ts, src_ip: str = "203.0.113.7") -> Event:  # type: ignore[no-untyped-def]
        return Event(id=self.ids.new(ts), ts=ts, sensor=self.sensor, location="lab", session="s",
                     kind="connect", src_ip=src_ip, src_port=40000, dst_port=8080, protocol="tcp",
                     body=Connect())

    def http(self, ts, target: str = "/", src_ip: str = "198.51.100.9") -> Event:  # type: ignore[no-untyped-def]
        return Event(id=self.ids.new(ts), ts=ts, sensor=self.sensor, location="lab", session="s",
                     kind="http.request", src_ip=src_ip, src_port=40001, dst_port=8080, protocol="http",
                     body=HttpRequest(method="GET", target=target, version="1.1", headers=[("Host", "x")]),
                     rules=["test-rule"], iocs=[Ioc(type="url", value="http://evil.example/x", role="download")])


def ndjson(events: list[Event]) -> bytes:
    return b"\n".join(encode_event(e) for e in events)


def post_events(url: str, token: str | None, body: bytes, *, gzipped: bool = True) -> httpx.Response:
    headers = {"Content-Type": "application/x-ndjson"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(url + "/api/v1/events", content=body, headers=headers, timeout=60, trust_env=False)


def get_events(url: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = httpx.get(url + "/api/v1/events", params={k: v for k, v in params.items() if v is not None},
                         timeout=60, trust_env=False)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content)  # type: ignore[no-any-return]
