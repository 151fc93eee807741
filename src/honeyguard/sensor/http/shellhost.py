"""The emulated shells of one HTTP connection: one per persona answering with ``shell:`` replies.

Each is the SSH sensor's emulator (sensor/shell) over its own fresh in-memory filesystem, built
on first use, so a dropper's ``wget -O /tmp/x; chmod +x /tmp/x; ls /tmp`` agrees with itself
within a connection and nothing is shared between attackers. wget/curl/tftp become ``download``
events of the HTTP session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from honeyguard.clock import Entropy
from honeyguard.model import Download
from honeyguard.sensor.http.dynamic import ShellProfile
from honeyguard.sensor.runtime import SessionRecorder
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.fs import FakeFs

log = logging.getLogger(__name__)

FS_MAX_BYTES = 1024 * 1024  # what commands may write into one connection's fake filesystem
MAX_EVENT_TEXT = 4096
MAX_RUNS = 64  # commands a connection may run; later ones answer nothing
_BIN_FOLDERS = ("/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin")


class _Downloads:
    def __init__(self, rec: SessionRecorder) -> None:
        self.rec = rec

    def download(self, url: str, tool: str, command: str) -> None:
        self.rec.record(Download(url=url[:MAX_EVENT_TEXT], tool=tool, command=command[:MAX_EVENT_TEXT]))


class ConnectionShells:
    def __init__(self, rec: SessionRecorder, now: Callable[[], datetime]) -> None:
        self.rec = rec
        self.now = now
        self.shells: dict[str, Shell] = {}
        self.runs = 0

    def run(self, profile: ShellProfile, command: str) -> str:
        """What the command prints, as the profile's user on the profile's host."""
        self.runs += 1
        if self.runs > MAX_RUNS:
            return ""
        shell = self.shells.get(profile.key)
        if shell is None:
            shell = self._new_shell(profile)
            self.shells[profile.key] = shell
        try:
            return shell.run_line(command).output
        except Exception:  # the emulator must never take the connection down
            log.exception("emulated command failed in http shell")
            return ""

    def _new_shell(self, profile: ShellProfile) -> Shell:
        facts = profile.facts
        fs = FakeFs.build({**facts.generated_files(profile.hostname), **facts.files}, facts.directories,
                          max_bytes=FS_MAX_BYTES, now=self.now().timestamp() - facts.uptime_seconds)
        shell = Shell(facts=facts, hostname=profile.hostname, username=profile.user, fs=fs,
                      events=_Downloads(self.rec), now=lambda: self.now().astimezone(UTC),
                      client_ip=self.rec.src_ip)
        configure(shell, profile)
        return shell


def configure(shell: Shell, profile: ShellProfile) -> None:
    """Make a fresh emulated shell the one a web server's ``system()`` reaches: sh, in the app's folder."""
    # exploits name their tools by path (/bin/busybox, /usr/bin/wget): answer those like the bare names
    shell.commands = {**shell.commands, **{f"{folder}/{name}": handler for name, handler in shell.commands.items()
                                           if "/" not in name for folder in _BIN_FOLDERS}}
    shell.error_prefix = "sh: 1" if not profile.busybox else "sh"
    shell.not_found = "not found"  # dash and ash both say just "not found"
    if profile.busybox:  # BusyBox's applets' wording (dd, wget) and ash's bare "Segmentation fault"
        shell.flavour, shell.segfault = "busybox", "Segmentation fault"
    if profile.cwd:
        if not shell.fs.is_dir(profile.cwd):
            shell.fs.mkdir(profile.cwd, parents=True)
        shell.set_cwd(profile.cwd)


def random_hex(entropy: Entropy) -> Callable[[int], str]:
    def make(digits: int) -> str:
        if digits <= 0:
            return ""
        return f"{entropy.randbits(4 * digits):0{digits}x}"
    return make
