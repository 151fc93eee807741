"""HTTP personas: loading, mistakes located by file and line, routing, hand-overs, TLS material."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from honeyguard.clock import FakeClock
from honeyguard.config import Listener, SensorSettings
from honeyguard.errors import ContentError, ServiceError
from honeyguard.sensor.http.persona import HttpPersona
from honeyguard.sensor.http.responder import Router
from honeyguard.sensor.http.tls import ensure_certificate
from honeyguard.sensor.personas import BUILTIN_DIR, load_personas
from honeyguard.sensor.sensor import Sensor
from honeyguard.sensor.services.http import build_routers
from honeyguard.sensor.sinks import MemorySink
from tests.conftest import SensorThread, free_port
from tests.sensor.http_helpers import exchange


def test_builtin_http_personas_load() -> None:
    personas = load_personas([BUILTIN_DIR], service="http")
    assert {"apache-ubuntu", "nginx"} <= set(personas)
    apache = personas["apache-ubuntu"]
    assert isinstance(apache, HttpPersona) and apache.server == "Apache/2.4.52 (Ubuntu)"
    build_routers(personas)  # every body file exists, every hand-over resolves


def test_other_services_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sshd.yaml").write_text("id: some-ssh\nservice: ssh\nbanner: SSH-2.0-OpenSSH_8.9p1\n")
    (tmp_path / "web.yaml").write_text("id: tiny\nservice: http\nserver: tiny/1.0\n")
    assert list(load_personas([tmp_path], service="http")) == ["tiny"]


def test_mistakes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nservice: http\nroutes:\n  - path: /\n    statuz: 200\n")
    with pytest.raises(ContentError) as caught:
        load_personas([tmp_path])
    assert f"{path}:5" in str(caught.value) and "statuz" in str(caught.value)
    path.write_text("id: bad\nservice: http\nroutes:\n  - path: /\n    prefix: /x\n")
    with pytest.raises(ContentError, match=r"bad\.yaml:4.*exactly one of path, prefix or regex"):
        load_personas([tmp_path])
    path.write_text("id: bad\nservice: http\nroutes:\n  - regex: '(unclosed'\n")
    with pytest.raises(ContentError, match="invalid regex"):
        load_personas([tmp_path])


def test_missing_body_file_is_a_content_error(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("id: p\nservice: http\nroutes:\n  - path: /\n    body_file: nope.html\n")
    with pytest.raises(ContentError, match=r"p\.yaml:5: routes\.0\.body_file: cannot read body file"):
        build_routers(load_personas([tmp_path]))


def _persona_dir(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "shop.yaml").write_text(
        "id: shop\nservice: http\nserver: Apache\n"
        "routes:\n"
        "  - prefix: /wp-\n    persona: wordpress\n"
        "  - regex: '\\.\\./etc/passwd'\n    body: 'root:x:0:0:root:/root:/bin/bash'\n"
        "  - path: /login\n    methods: [POST]\n    status: 302\n    headers: {Location: /home}\n"
    )
    (tmp_path / "wp.yaml").write_text(
        "id: wordpress\nservice: http\nserver: nginx\n"
        "routes:\n  - path: /wp-login.php\n    body: '<form id=\"loginform\">'\n"
    )
    return tmp_path


def test_routing_and_hand_over_to_another_persona(tmp_path: Path) -> None:
    routers = build_routers(load_personas([_persona_dir(tmp_path)]))
    shop: Router = routers["shop"]
    assert shop.find("GET", "/wp-login.php", "/wp-login.php").body == b'<form id="loginform">'
    assert shop.find("GET", "/wp-admin/", "/wp-admin/").status == 404
    assert shop.find("GET", "/cgi-bin/x", "/cgi-bin/x?f=../../etc/passwd").body.startswith(b"root:x:0:0")
    assert shop.find("POST", "/login", "/login").status == 302
    assert shop.find("GET", "/login", "/login").status == 405


def test_unknown_hand_over_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: a\nservice: http\nroutes:\n  - prefix: /\n    persona: ghost\n")
    with pytest.raises(ServiceError, match="ghost"):
        build_routers(load_personas([tmp_path]))


def test_user_persona_folder_is_served(tmp_path: Path) -> None:
    personas = _persona_dir(tmp_path / "personas")
    settings = SensorSettings(listeners=[Listener(service="http", port=free_port(), persona="shop")],
                              persona_dirs=[str(personas)])
    sensor = SensorThread(settings, tmp_path / "data").start()
    try:
        response = exchange(sensor.port("http"), b"GET /wp-login.php HTTP/1.0\r\n\r\n")
    finally:
        sensor.stop()
    assert b"\r\nServer: nginx\r\n" in response and response.endswith(b'<form id="loginform">')
    # the request names the product persona it was handed to; the connection names the listener's
    assert {(e.kind, e.persona) for e in sensor.sink.events()} == {
        ("connect", "shop"), ("http.request", "wordpress"), ("session.closed", "shop")}


def test_unknown_persona_id_is_refused(tmp_path: Path) -> None:
    settings = SensorSettings(listeners=[Listener(service="http", port=free_port(), persona="no-such-persona")])
    sensor = Sensor(settings, sink=MemorySink(), data_dir=tmp_path / "data")
    with pytest.raises(ServiceError, match="unknown persona 'no-such-persona'"):
        asyncio.run(sensor.start())


def test_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    now = FakeClock().now()
    cert, key = ensure_certificate(tmp_path, "web01", now)
    first = cert.read_bytes()
    assert key.stat().st_mode & 0o077 == 0
    again, _ = ensure_certificate(tmp_path, "web01", now)
    assert again.read_bytes() == first
    from cryptography import x509

    subject = x509.load_pem_x509_certificate(first).subject
    assert subject.rfc4514_string() == "CN=web01"


def test_https_listener_serves_the_kept_certificate(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], tls=True)
    port = sensor.port("http")
    served = ssl.get_server_certificate(("127.0.0.1", port))
    kept = next((sensor.sensor.ctx.data_dir / "tls").glob("*.crt")).read_text()
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(kept)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw) as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "http.request" for e in evs))
    request = next(e for e in events if e.kind == "http.request")
    assert request.protocol == "https" and request.body.tls  # type: ignore[union-attr]
