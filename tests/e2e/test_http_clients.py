"""Real clients against the HTTP sensor: curl, nmap's version detection, and real attack traffic."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from honeyguard.model import HttpRequest
from tests.conftest import SHARED, tool
from tests.sensor.http_helpers import read_all

pytestmark = pytest.mark.e2e
WILD = SHARED / "data" / "wild-http" / "requests.jsonl"


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """curl's output as sent: CRLF kept (text mode would turn it into LF)."""
    done = subprocess.run([tool("curl"), "-s", "--max-time", "30", *args], capture_output=True, timeout=60)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("latin-1"),
                                       done.stderr.decode("latin-1"))


def requests_of(sensor) -> list[HttpRequest]:  # type: ignore[no-untyped-def]
    return [e.body for e in sensor.sink.events("http.request")]


def test_curl_get_post_head(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    url = f"http://127.0.0.1:{sensor.port('http')}"
    page = curl("-i", f"{url}/")
    assert page.stdout.startswith("HTTP/1.1 200 OK\r\n")
    assert "<title>Apache2 Ubuntu Default Page: It works</title>" in page.stdout
    names = [line.split(":")[0] for line in page.stdout.split("\r\n\r\n")[0].split("\r\n")[1:]]
    assert names == ["Date", "Server", "Last-Modified", "ETag", "Accept-Ranges", "Content-Length", "Vary",
                     "Keep-Alive", "Connection", "Content-Type"]
    missing = curl("-i", "-A", "zgrab/0.x", f"{url}/phpmyadmin/index.php?lang=en")
    assert missing.stdout.startswith("HTTP/1.1 404 Not Found\r\n")
    assert f"Apache/2.4.52 (Ubuntu) Server at 127.0.0.1 Port {sensor.port('http')}" in missing.stdout
    posted = curl("-o", "/dev/null", "-w", "%{http_code}", "-d", "user=admin&pass=admin", f"{url}/")
    assert posted.stdout == "200"
    head = curl("-I", f"{url}/")
    assert head.stdout.startswith("HTTP/1.1 200 OK\r\n") and "Content-Length: " in head.stdout
    sensor.sink.wait_for(lambda evs: sum(e.kind == "http.request" for e in evs) == 4)
    got = requests_of(sensor)
    assert [(r.method, r.target, r.status) for r in got] == [
        ("GET", "/", 200), ("GET", "/phpmyadmin/index.php?lang=en", 404), ("POST", "/", 200), ("HEAD", "/", 200)]
    assert ("User-Agent", "zgrab/0.x") in got[1].headers
    assert got[2].body == b"user=admin&pass=admin" and got[2].body_size == 21


def test_curl_https(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], tls=True)
    result = curl("-k", "-i", f"https://127.0.0.1:{sensor.port('http')}/.env")
    assert result.stdout.startswith("HTTP/1.1 404 Not Found\r\n")
    sensor.sink.wait_for(lambda evs: any(e.kind == "http.request" for e in evs))
    (request,) = requests_of(sensor)
    assert request.tls and request.target == "/.env"


def test_nmap_names_apache(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    port = sensor.port("http")
    result = subprocess.run([tool("nmap"), "-sT", "-Pn", "-sV", "-n", "-p", str(port), "127.0.0.1"],
                            capture_output=True, text=True, timeout=240)
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{port}/tcp"))
    assert "open" in line and "Apache httpd 2.4.52" in line, result.stdout


def _replay(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def test_wild_requests_replayed(make_sensor) -> None:  # type: ignore[no-untyped-def]
    records = [json.loads(line) for line in WILD.read_text().splitlines() if line.strip()]
    raws = [base64.b64decode(r["request_b64"]) for r in records]
    assert len(raws) == 3262
    sensor = make_sensor(["http"])
    port = sensor.port("http")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda raw: _replay(port, raw), raws))
    events = sensor.sink.wait_for(lambda evs: sum(e.kind == "session.closed" for e in evs) == len(raws),
                                  timeout=120)
    sessions = {e.session for e in events if e.kind in ("http.request", "raw.data")}
    assert len(sessions) == len(raws)  # every connection left a request or raw data
    assert not [e for e in events if e.kind == "session.closed" and e.body.reason == "error"]  # type: ignore[union-attr]
    assert sum(a.startswith(b"HTTP/1.1 ") for a in answers) > 0.95 * len(raws)
    targets = {e.body.target for e in events if isinstance(e.body, HttpRequest)}
    for raw in raws:
        line = raw.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        _method, _, rest = line.partition(" ")
        if rest.endswith((" HTTP/1.1", " HTTP/1.0")):
            assert rest[:-9].strip() in targets, line
    after = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=60)
    assert after.stdout == "200"
