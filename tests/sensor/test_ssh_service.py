"""The SSH service driven by an asyncssh client: login policy, shell, exec, SFTP, caps, persona."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from pathlib import Path

import asyncssh
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.config import Limits, Listener, LoginCredential, SensorSettings, SshSettings
from honeyguard.errors import ServiceError
from honeyguard.model import Event, SshClient
from honeyguard.sensor.sshd.fingerprint import client_offer, hassh, parse_kexinit
from tests.conftest import SensorThread, free_port
from tests.sensor.ssh_keys import fast_host_keys  # noqa: F401 - autouse fixture

CREDS = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="toor")])


def connect(port: int, **options):  # type: ignore[no-untyped-def]
    options.setdefault("username", "root")
    options.setdefault("password", "toor")
    options.setdefault("client_keys", None)
    return asyncssh.connect("127.0.0.1", port, known_hosts=None, agent_path=None, connect_timeout=30, **options)


def bodies(events: list[Event], kind: str) -> list:  # type: ignore[type-arg]
    return [e.body for e in events if e.kind == kind]


def closed(sensor: SensorThread, count: int = 1) -> list[Event]:
    return sensor.sink.wait_for(lambda evs: sum(e.kind == "session.closed" for e in evs) >= count, timeout=30)


class Passwords(asyncssh.SSHClient):
    """A client that tries several passwords on one connection, like a brute forcer."""

    def __init__(self, passwords: list[str]) -> None:
        self.passwords = list(passwords)

    def password_auth_requested(self) -> str | None:
        return self.passwords.pop(0) if self.passwords else None


def test_accepts_after_n_failed_attempts_on_one_connection(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=SshSettings(accept_after_attempts=2))
    port = sensor.port("ssh")

    async def main() -> str:
        conn, _ = await asyncssh.create_connection(lambda: Passwords(["a1", "b2", "c3", "d4"]), "127.0.0.1", port,
                                                   username="admin", known_hosts=None, client_keys=None,
                                                   agent_path=None)
        async with conn:
            result = await conn.run("whoami", check=True)
        return str(result.stdout)

    assert asyncio.run(main()) == "admin\n"
    logins = bodies(closed(sensor), "ssh.login")
    assert [(x.password, x.success) for x in logins] == [("a1", False), ("b2", False), ("c3", True)]
    assert all(x.username == "admin" and x.method == "password" for x in logins)


def test_only_listed_credentials_when_accept_after_is_zero(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    port = sensor.port("ssh")

    async def main() -> None:
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(port, password="wrong")
        async with connect(port) as conn:
            assert (await conn.run("id -u")).stdout == "0\n"

    asyncio.run(main())
    logins = bodies(closed(sensor, 2), "ssh.login")
    assert [(x.password, x.success) for x in logins] == [("wrong", False), ("toor", True)]


def test_public_keys_are_recorded_and_rejected(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    key = asyncssh.generate_private_key("ssh-ed25519")

    async def main() -> None:
        async with connect(sensor.port("ssh"), client_keys=[key]) as conn:  # the key fails, the password works
            await conn.run("true")

    asyncio.run(main())
    logins = bodies(closed(sensor), "ssh.login")
    assert logins[0].method == "publickey" and logins[0].success is False
    assert logins[0].key_type == "ssh-ed25519"
    assert logins[0].key_fingerprint == key.get_fingerprint("sha256")
    assert logins[-1].method == "password" and logins[-1].success is True


def test_client_offer_is_recorded_with_hassh(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)

    async def main() -> None:
        async with connect(sensor.port("ssh"), client_version="Botnet_1.0", kex_algs=["curve25519-sha256"],
                           encryption_algs=["aes128-ctr"], mac_algs=["hmac-sha2-256"]):
            pass

    asyncio.run(main())
    [offer] = bodies(closed(sensor), "ssh.client")
    assert offer.version == "SSH-2.0-Botnet_1.0"
    assert offer.kex[0] == "curve25519-sha256"
    assert offer.ciphers == ["aes128-ctr"] and offer.macs == ["hmac-sha2-256"]
    text = ";".join(",".join(x) for x in (offer.kex, offer.ciphers, offer.macs, offer.compression))
    assert offer.hassh == hashlib.md5(text.encode()).hexdigest()


def _kexinit(lists: list[list[str]]) -> bytes:
    payload = bytes([20]) + b"\x11" * 16
    for names in lists:
        raw = ",".join(names).encode()
        payload += struct.pack(">I", len(raw)) + raw
    return payload + b"\x00" + b"\x00" * 4


def test_kexinit_parsing_and_hassh() -> None:
    lists = [["curve25519-sha256", "ext-info-c"], ["ssh-ed25519"], ["aes128-ctr"], ["aes256-ctr"],
             ["hmac-sha1"], ["hmac-sha2-256"], ["none"], ["none"], [], []]
    offer = parse_kexinit(_kexinit(lists), "SSH-2.0-x")
    assert offer is not None
    assert (offer.kex, offer.host_keys, offer.ciphers, offer.macs, offer.compression) == (
        lists[0], lists[1], lists[2], lists[4], lists[6])
    expected = hashlib.md5(b"curve25519-sha256,ext-info-c;aes128-ctr;hmac-sha1;none").hexdigest()
    assert offer.hassh == expected == hassh(lists[0], lists[2], lists[4], lists[6])
    assert parse_kexinit(_kexinit(lists)[:30], "v") is None  # truncated: no record, no exception
    assert client_offer(b"") is None
    only_version = struct.pack(">I", 9) + b"SSH-2.0-x" + struct.pack(">I", 3) + b"our" + struct.pack(">I", 0)
    offer = client_offer(only_version)
    assert offer is not None and offer.version == "SSH-2.0-x" and offer.kex == [] and offer.hassh == ""


def test_kexinit_empty_names_are_dropped_and_long_lists_cut() -> None:
    """A hostile offer: empty names (",,", a trailing comma) and one list far past any real length."""
    payload = bytes([20]) + b"\x00" * 16
    raw_lists = [b"curve25519-sha256,,ext-info-c,", b"ssh-ed25519", b",aes128-ctr", b"aes128-ctr",
                 b"hmac-sha1," + b"x" * 20000, b"hmac-sha1", b"none", b"none", b"", b""]
    for raw in raw_lists:
        payload += struct.pack(">I", len(raw)) + raw
    offer = parse_kexinit(payload + b"\x00" * 5, "SSH-2.0-x")
    assert offer is not None
    assert offer.kex == ["curve25519-sha256", "ext-info-c"] and offer.ciphers == ["aes128-ctr"]
    assert offer.macs[0] == "hmac-sha1" and sum(map(len, offer.macs)) + len(offer.macs) - 1 == 8192
    expected = f"curve25519-sha256,ext-info-c;aes128-ctr;{','.join(offer.macs)};none"
    assert offer.hassh == hashlib.md5(expected.encode()).hexdigest()


def test_exec_and_interactive_shell_without_pty(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)

    async def main() -> tuple[str, int | None, str]:
        async with connect(sensor.port("ssh")) as conn:
            result = await conn.run("uname -m; nosuchcmd")
            assert (await conn.run("id -un; exit 3")).exit_status == 3
            process = await conn.create_process()
            process.stdin.write("cd /tmp\necho hi > f\ncat f\nexit\n")
            output = await process.stdout.read()
            await process.wait()
        return str(result.stdout) + str(result.stderr), result.exit_status, output

    exec_out, status, shell_out = asyncio.run(main())
    assert exec_out.startswith("x86_64\n") and "bash: line 1: nosuchcmd: command not found" in exec_out
    assert status == 127
    assert shell_out.endswith("hi\nlogout\n")
    commands = bodies(closed(sensor), "ssh.command")
    assert [(c.line, c.channel, c.handled) for c in commands] == [
        ("uname -m; nosuchcmd", "exec", False), ("id -un; exit 3", "exec", True),
        ("cd /tmp", "shell", True), ("echo hi > f", "shell", True),
        ("cat f", "shell", True), ("exit", "shell", True)]


def test_interactive_shell_with_pty_shows_a_prompt(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)

    async def main() -> str:
        async with connect(sensor.port("ssh")) as conn:
            process = await conn.create_process(term_type="xterm", term_size=(80, 24))
            seen = await process.stdout.readuntil("root@web01:~# ")
            process.stdin.write("hostname\r")
            seen += await process.stdout.readuntil("root@web01:~# ")
            process.stdin.write("exit\r")
            seen += await process.stdout.read()
        return seen

    screen = asyncio.run(main())
    assert "Welcome to Ubuntu 22.04.4 LTS" in screen
    assert "hostname\r\nweb01\r\nroot@web01:~# " in screen
    assert screen.endswith("logout\r\n")
    assert bodies(closed(sensor), "ssh.command")[0].line == "hostname"


def _sensor(tmp_path: Path, **settings) -> SensorThread:  # type: ignore[no-untyped-def]
    settings.setdefault("ssh", CREDS)
    listener = Listener(service="ssh", port=free_port(), persona=settings.pop("persona", None))
    return SensorThread(SensorSettings(listeners=[listener], **settings), tmp_path / "data").start()


def test_sftp_upload_is_stored_and_capped(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path, artifact_max_bytes=50_000)
    small, large = os.urandom(20_000), os.urandom(120_000)
    (tmp_path / "small").write_bytes(small)
    (tmp_path / "large").write_bytes(large)

    async def main() -> list[str]:
        async with connect(sensor.port("ssh")) as conn, conn.start_sftp_client() as sftp:
            await sftp.put(str(tmp_path / "small"), "/tmp/small")
            await sftp.put(str(tmp_path / "large"), "large")
            names = await sftp.listdir("/tmp")
            assert (await sftp.stat("/tmp/small")).size == len(small)
            return sorted(names)

    try:
        assert "small" in asyncio.run(main())
        uploads = bodies(closed(sensor), "upload")
    finally:
        sensor.stop()
    by_name = {u.filename: u for u in uploads}
    assert by_name["/tmp/small"].sha256 == hashlib.sha256(small).hexdigest()
    assert by_name["/tmp/small"].stored and by_name["/tmp/small"].via == "sftp"
    assert by_name["/root/large"].size == len(large) and not by_name["/root/large"].stored
    assert by_name["/root/large"].sha256 == hashlib.sha256(large).hexdigest()
    artifacts = tmp_path / "data" / "artifacts"
    assert sorted(p.name for p in artifacts.iterdir()) == [hashlib.sha256(small).hexdigest()]
    assert (artifacts / hashlib.sha256(small).hexdigest()).read_bytes() == small


def test_command_cap_ends_the_session(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path, limits=Limits(max_commands=3))

    async def main() -> None:
        async with connect(sensor.port("ssh")) as conn:
            process = await conn.create_process()
            process.stdin.write("id\nid\nid\nid\nid\n")
            await process.stdout.read()

    try:
        asyncio.run(main())
        events = closed(sensor)
    finally:
        sensor.stop()
    assert len(bodies(events, "ssh.command")) == 3
    assert bodies(events, "session.closed")[0].reason == "cap-commands"


def test_idle_timeout_ends_the_session(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path, limits=Limits(idle_timeout=0.5))

    async def main() -> None:
        async with connect(sensor.port("ssh")) as conn:
            await conn.wait_closed()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
        events = closed(sensor)
    finally:
        sensor.stop()
    assert bodies(events, "session.closed")[0].reason == "idle-timeout"


def test_session_timeout_ends_even_a_busy_session(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path, limits=Limits(session_timeout=1.0, idle_timeout=30))

    async def main() -> None:
        async with connect(sensor.port("ssh")) as conn:
            process = await conn.create_process()
            while not process.is_closing():  # busy: never idle
                try:
                    process.stdin.write("uptime\n")
                except (BrokenPipeError, asyncssh.Error):
                    break  # closed between the check and the write
                await asyncio.sleep(0.05)

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
        events = closed(sensor)
    finally:
        sensor.stop()
    assert bodies(events, "session.closed")[0].reason == "session-timeout"
    assert len(bodies(events, "ssh.command")) > 1


def test_shutdown_closes_live_sessions(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path)

    async def main() -> None:
        async with connect(sensor.port("ssh")) as conn:
            sensor.stop()
            await conn.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert bodies(closed(sensor), "session.closed")[0].reason == "shutdown"


def test_connection_cap_refuses_extra_connections(tmp_path: Path) -> None:
    sensor = _sensor(tmp_path, limits=Limits(max_connections=1))

    async def main() -> None:
        async with connect(sensor.port("ssh")):
            with pytest.raises((OSError, asyncssh.Error)):
                await connect(sensor.port("ssh"))

    try:
        asyncio.run(main())
        events = closed(sensor)
    finally:
        sensor.stop()
    assert len(bodies(events, "connect")) == 1


def test_persona_sets_version_and_host_keys_persist_real_keygen(tmp_path: Path) -> None:
    async def server_identity(port: int) -> tuple[str, str]:
        async with connect(port) as conn:
            key = conn.get_server_host_key()
            return conn.get_extra_info("server_version"), key.get_fingerprint("sha256")

    first = _sensor(tmp_path, persona="openssh-debian-12")
    try:
        version, fingerprint = asyncio.run(server_identity(first.port("ssh")))
        assert version == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    finally:
        first.stop()
    assert sorted(p.name for p in (tmp_path / "data" / "ssh").iterdir()) == [
        "ssh_host_ecdsa_key", "ssh_host_ed25519_key", "ssh_host_rsa_key"]
    again = _sensor(tmp_path, persona="openssh-debian-12")
    try:
        assert asyncio.run(server_identity(again.port("ssh")))[1] == fingerprint
    finally:
        again.stop()


def test_unknown_persona_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="unknown persona 'no-such-persona'"):
        _sensor(tmp_path, persona="no-such-persona")


def test_legacy_scp_recursive_upload_through_our_sink(make_sensor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    folder = tmp_path / "kit"
    (folder / "bin").mkdir(parents=True)
    files = {"run.sh": b"#!/bin/sh\n./bin/miner\n", "bin/miner": os.urandom(70_000)}
    for name, data in files.items():
        (folder / name).write_bytes(data)

    async def main() -> str:
        async with connect(sensor.port("ssh")) as conn:
            await asyncssh.scp(str(folder), (conn, "/tmp"), recurse=True)  # asyncssh speaks `scp -t`
            return str((await conn.run("ls /tmp/kit /tmp/kit/bin; cat /tmp/kit/run.sh")).stdout)

    listing = asyncio.run(main())
    assert listing == "/tmp/kit:\nbin  run.sh\n\n/tmp/kit/bin:\nminer\n#!/bin/sh\n./bin/miner\n"
    uploads = {u.filename: u for u in bodies(closed(sensor), "upload")}
    assert set(uploads) == {"/tmp/kit/run.sh", "/tmp/kit/bin/miner"}
    for name, data in files.items():
        upload = uploads[f"/tmp/kit/{name}"]
        assert (upload.via, upload.size, upload.sha256) == ("scp", len(data), hashlib.sha256(data).hexdigest())


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_kexinit_parser_never_raises(data: bytes) -> None:
    offer = parse_kexinit(data, "SSH-2.0-x")
    assert offer is None or len(offer.hassh) == 32
    assert client_offer(data) is None or isinstance(client_offer(data), SshClient)


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"SSH-2.0-bot\r\n" + b"\xff" * 3000,
                                  b"SSH-2.0-bot\r\n\x00\x00\x00\x0c\x0a\x14" + os.urandom(64)])
def test_garbage_is_recorded_and_closed(make_sensor, sent: bytes) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    with socket.create_connection(("127.0.0.1", sensor.port("ssh")), timeout=30) as sock:
        banner = sock.recv(256)
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    assert banner.startswith(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n")
    events = closed(sensor)
    assert events[0].kind == "connect" and events[-1].kind == "session.closed"

    async def main() -> str:  # and the sensor goes on serving
        async with connect(sensor.port("ssh")) as conn:
            return str((await conn.run("echo alive")).stdout)

    assert asyncio.run(main()) == "alive\n"


def test_cut_off_transfers_are_recorded_before_the_session_ends(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    sftp_part, scp_part = os.urandom(100_000), os.urandom(5_000)

    async def main() -> None:
        conn = await connect(sensor.port("ssh"))
        sftp = await conn.start_sftp_client()
        handle = await sftp.open("/tmp/partial", "wb")
        await handle.write(sftp_part)
        conn.abort()
        conn = await connect(sensor.port("ssh"))
        process = await conn.create_process("scp -t /tmp", encoding=None)
        assert await process.stdout.readexactly(1) == b"\0"
        process.stdin.write(b"C0755 1000000 big\n")
        assert await process.stdout.readexactly(1) == b"\0"
        process.stdin.write(scp_part)
        await process.stdin.drain()
        sensor.sink.wait_for(lambda evs: sum(len(e.body.line) for e in evs if e.kind == "ssh.command") > 0)
        conn.abort()

    asyncio.run(main())
    events = closed(sensor, 2)
    kinds = [e.kind for e in events]
    uploads = {u.filename: u for u in bodies(events, "upload")}
    assert uploads["/tmp/partial"].sha256 == hashlib.sha256(sftp_part).hexdigest()
    assert uploads["/tmp/big"].size <= len(scp_part)
    first_closed = kinds.index("session.closed")
    assert kinds.index("upload") < first_closed  # recorded before its session's end
    artifacts = sensor.sensor.ctx.data_dir / "artifacts"
    assert not [p for p in artifacts.iterdir() if p.name.startswith(".partial")]
