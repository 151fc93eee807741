"""Session channels: the interactive shell, ``exec`` requests and the SCP sink.

Every line goes to the emulated shell (honeyguard.sensor.shell); nothing is ever run. A shell
with a PTY gets asyncssh's line editor (echo, backspace, history) and a prompt; one without a
PTY gets neither, as bash reading a pipe would. Output waits for the client to read it
(``drain``), so a client that never reads cannot make the sensor buffer without bound.
"""

from __future__ import annotations

import logging
import shlex

import asyncssh

from honeyguard.model import Download, SshCommand
from honeyguard.sensor.sshd.scp import scp_sink_target, serve_scp_sink
from honeyguard.sensor.sshd.server import HoneypotConnection

log = logging.getLogger(__name__)

_READ_CHUNK = 4096
_MAX_EVENT_LINE = 8192  # characters of one command line kept in its event


class _DownloadRecorder:
    """The shell's ShellEvents: turns wget/curl/tftp into Download events."""

    def __init__(self, owner: HoneypotConnection) -> None:
        self.owner = owner

    def download(self, url: str, tool: str, command: str) -> None:
        if self.owner.rec is not None:
            self.owner.rec.record(Download(url=url[:_MAX_EVENT_LINE], tool=tool, command=command[:_MAX_EVENT_LINE]))


def owner_of(channel_holder: asyncssh.SSHServerProcess[str] | asyncssh.SSHServerChannel[str]) -> HoneypotConnection:
    conn = channel_holder.get_extra_info("connection")
    return conn.get_owner()  # type: ignore[no-any-return]


async def handle_process(process: asyncssh.SSHServerProcess[str]) -> None:
    """asyncssh's process_factory: one session channel (shell or exec)."""
    owner = owner_of(process)
    status = 0
    try:
        command = process.command
        if command is None:
            await _interactive(owner, process)
        else:
            scp = _scp_target(command)
            if scp is not None:
                status = await serve_scp_sink(owner, process, command, *scp)
            else:
                status = await _exec(owner, process, command)
    except (asyncssh.DisconnectError, asyncssh.ConnectionLost, ConnectionError, BrokenPipeError):
        return
    except Exception:  # never let one channel's bug take the connection down silently
        log.exception("ssh channel failed")
        status = 1
    if not process.is_closing():
        process.exit(status)


def _scp_target(command: str) -> tuple[str, bool] | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    return scp_sink_target(words)


async def _exec(owner: HoneypotConnection, process: asyncssh.SSHServerProcess[str], command: str) -> int:
    if not owner.count_command():
        return 255
    shell = owner.new_shell(_DownloadRecorder(owner))
    shell.error_prefix = "bash: line 1"
    result = shell.run_line(command)
    _record_command(owner, command, "exec", result.handled)
    await _write(owner, process, result.output)
    return shell.last_status


async def _interactive(owner: HoneypotConnection, process: asyncssh.SSHServerProcess[str]) -> None:
    pty = process.get_terminal_type() is not None
    shell = owner.new_shell(_DownloadRecorder(owner))
    prompt = shell.prompt if pty else (lambda: "")
    await _write(owner, process, _motd(owner, shell.client_ip) + prompt())
    limit = owner.ctx.limits.max_buffer_bytes
    pending = ""
    while True:
        try:
            chunk = await process.stdin.read(_READ_CHUNK)
        except asyncssh.TerminalSizeChanged:
            continue
        except (asyncssh.BreakReceived, asyncssh.SignalReceived):
            pending = ""
            await _write(owner, process, "^C\n" + prompt())
            continue
        if not chunk:
            return  # EOF: the client closed its side
        owner.touch()
        if owner.rec is not None:
            owner.rec.bytes_in += len(chunk)
        pending += chunk
        while "\n" in pending or "\r" in pending:
            line, pending = _split_line(pending)
            if not line.strip():
                await _write(owner, process, prompt())
                continue
            if not owner.count_command():
                return
            result = shell.run_line(line)
            _record_command(owner, line, "shell", result.handled)
            if result.exit:
                await _write(owner, process, result.output + "logout\n")
                return
            await _write(owner, process, result.output + prompt())
        if len(pending) > limit:
            owner.close("cap-bytes")  # one line longer than max_buffer_bytes
            return


def _split_line(pending: str) -> tuple[str, str]:
    """The first line (ended by \\n, \\r or \\r\\n) and the rest."""
    cut = min(i for i in (pending.find("\n"), pending.find("\r")) if i >= 0)
    rest = pending[cut + 1:]
    if pending[cut] == "\r" and rest.startswith("\n"):
        rest = rest[1:]
    return pending[:cut], rest


def _record_command(owner: HoneypotConnection, line: str, channel: str, handled: bool) -> None:
    if owner.rec is not None:
        owner.rec.record(SshCommand(line=line[:_MAX_EVENT_LINE], channel=channel,  # type: ignore[arg-type]
                                    handled=handled))


async def _write(owner: HoneypotConnection, process: asyncssh.SSHServerProcess[str], text: str) -> None:
    """Write and wait for the client to take it. (With a PTY, asyncssh's line editor turns "\n" into "\r\n".)"""
    if not text:
        return
    if owner.rec is not None:
        owner.rec.bytes_out += len(text)
    process.stdout.write(text)
    await process.stdout.drain()


def _motd(owner: HoneypotConnection, client_ip: str) -> str:
    facts = owner.state.persona.system
    pretty = next((line.split("=", 1)[1].strip('"') for line in facts.os_release.splitlines()
                   if line.startswith("PRETTY_NAME=")), "Linux")
    when = owner.ctx.clock.now()
    return (f"Welcome to {pretty} (GNU/Linux {facts.kernel_release} {facts.machine})\n\n"
            f"Last login: {when:%a %b %e %H:%M:%S %Y} from {client_ip}\n")
