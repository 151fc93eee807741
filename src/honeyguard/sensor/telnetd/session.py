"""One telnet connection: negotiate, run the login dialogue, then the emulated shell.

An asyncio.Protocol (no task per connection). The stages follow a real telnetd + login(1) +
shell: the persona's option negotiation, its banner and ``login:`` prompt, a password read
without echo, ``Login incorrect`` or the MOTD, then command lines into sensor/shell. Every login
attempt is an ``ssh.login`` event and every line an ``ssh.command`` event with protocol
``telnet`` (docs/events.md). Caps: idle and session time, commands, bytes of one line, and
reading stops while the client is not reading what we write.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, auto
from typing import cast

from honeyguard.model import Download, SshCommand, SshLogin
from honeyguard.sensor.runtime import BoundedProtocol, ServiceContext, SessionRecorder
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.session_fs import session_fs
from honeyguard.sensor.telnetd.busybox import make_busybox
from honeyguard.sensor.telnetd.lines import LineReader
from honeyguard.sensor.telnetd.options import IAC, OPTIONS, TelnetStream
from honeyguard.sensor.telnetd.persona import TelnetPersona

log = logging.getLogger(__name__)

MAX_EVENT_FIELD = 8192  # characters of a command line, user name or password kept in events
MAX_TRACKED_ADDRESSES = 65536  # source addresses whose failed logins are counted
_SUBNEGOTIATED = ("ttype", "tspeed", "xdisploc", "new-environ")  # what telnetd asks the client to send
_USER_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")  # useradd's default NAME_REGEX, near enough


@dataclass
class TelnetServiceState:
    """What every connection of one listener shares (built once at start)."""

    ctx: ServiceContext
    persona: TelnetPersona
    hostname: str
    dst_port: int
    credentials: frozenset[tuple[str, str]]
    opening: list[bytes]  # the persona's first negotiation, as IAC triples
    after: list[bytes]
    failures: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def login_accepted(self, address: str, username: str, password: str) -> bool:
        """Listed credentials always; else the N+1th attempt from an address (bots try one a connection)."""
        if (username, password) in self.credentials:
            return True
        after = self.ctx.ssh.accept_after_attempts
        failed = self.failures.pop(address, 0)
        if after > 0 and failed >= after:
            return True  # counter forgotten: the next N from this address fail again
        self.failures[address] = failed + 1
        if len(self.failures) > MAX_TRACKED_ADDRESSES:
            self.failures.popitem(last=False)
        return False


class Stage(Enum):
    NEGOTIATING = auto()
    USERNAME = auto()
    PASSWORD = auto()
    SHELL = auto()
    DONE = auto()


class _Downloads:
    """The shell's ShellEvents: wget/curl/tftp/busybox wget become Download events."""

    def __init__(self, rec: SessionRecorder) -> None:
        self.rec = rec

    def download(self, url: str, tool: str, command: str) -> None:
        self.rec.record(Download(url=url[:MAX_EVENT_FIELD], tool=tool, command=command[:MAX_EVENT_FIELD]))


class TelnetConnection(BoundedProtocol):
    def __init__(self, state: TelnetServiceState) -> None:
        self.state = state
        self.ctx = state.ctx
        self.persona = state.persona
        self.transport: asyncio.Transport | None = None
        self.rec: SessionRecorder | None = None
        self.stage = Stage.NEGOTIATING
        self.finished = False
        self.paused = False
        self.username = ""
        self.attempts = 0
        self.commands = 0
        self.shell: Shell | None = None
        offer = {OPTIONS["echo"], OPTIONS["sga"], OPTIONS["status"]}
        accept = {OPTIONS[name] for name in ("naws", *_SUBNEGOTIATED, "lflow", "linemode", "old-environ")}
        self.telnet = TelnetStream(offer=offer, accept=accept)
        self.reader = LineReader(max_line=self.ctx.limits.max_buffer_bytes)

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._open_session(cast(asyncio.Transport, transport), protocol="telnet",
                                  persona=self.persona.id, dst_port=self.state.dst_port):
            return
        self._write(self.telnet.start(self.state.opening))
        if not self.persona.wait_for_replies:
            self._show_login()

    def data_received(self, data: bytes) -> None:
        if self.finished or self.rec is None:
            return
        self.rec.bytes_in += len(data)
        self.idle.touch()
        try:
            plain = self.telnet.feed(data)
            self._write(self.telnet.take_replies())
            if self.stage is Stage.NEGOTIATING and (plain or self._answered()):
                self._after_negotiation()
            self.reader.feed(plain)
            self._process()
        except Exception:  # whatever a client sends, one connection's bug ends only that connection
            log.exception("telnet connection failed")
            self._finish("error")

    def _on_resume(self) -> None:
        self._process()

    # -- stages --------------------------------------------------------------------------------

    def _answered(self) -> bool:
        return all(c[2] in self.telnet.answered for c in self.state.opening if c[1] == 253)  # DO

    def _after_negotiation(self) -> None:
        """netkit telnetd: ask for what the client agreed to send, then its second round, then login."""
        asks = b"".join(self.telnet.request_subnegotiation(OPTIONS[name]) for name in _SUBNEGOTIATED
                        if OPTIONS[name] in self.telnet.theirs)
        self._write(asks + self.telnet.start(self.state.after))
        self._show_login()

    def _show_login(self) -> None:
        self.stage = Stage.USERNAME
        self.reader.echo = True
        self._write_text(self._fill(self.persona.banner) + self._fill(self.persona.login_prompt), raw=True)

    def _process(self) -> None:
        while not self.paused and not self.finished and self.stage is not Stage.NEGOTIATING:
            item, echo = self.reader.next()
            self._write(echo)
            if item is None:
                return
            kind, text = item
            if kind == "overflow":
                self._finish("cap-bytes")
            elif self.stage is Stage.SHELL:
                self._shell_item(kind, text)
            else:
                self._login_item(kind, text)

    def _login_item(self, kind: str, text: str) -> None:
        if kind != "line":
            if kind == "interrupt":
                self._show_login()
            return
        if self.stage is Stage.USERNAME:
            if not text.strip():
                self._write_text(self._fill(self.persona.login_prompt), raw=True)
                return
            self.username = text.strip()
            self.stage = Stage.PASSWORD
            self.reader.echo = False
            self._write_text(self.persona.password_prompt, raw=True)
            return
        self._write(b"\r\n")  # the Enter the terminal did not echo, as getpass prints it
        self._login_attempt(self.username, text)

    def _login_attempt(self, username: str, password: str) -> None:
        assert self.rec is not None
        success = self.state.login_accepted(self.rec.src_ip, username, password)
        self.rec.record(SshLogin(username=username[:MAX_EVENT_FIELD], method="password",
                                 password=password[:MAX_EVENT_FIELD], success=success))
        self.attempts += 1
        if success:
            self._start_shell(username)
            return
        self._write_text(self.persona.login_failed, raw=True)
        if self.attempts >= self.persona.max_attempts:
            self._finish("server-closed")
            return
        self.stage = Stage.USERNAME
        self.reader.echo = True
        self._write_text(self._fill(self.persona.login_prompt), raw=True)

    def _start_shell(self, username: str) -> None:
        assert self.rec is not None
        facts = self.persona.system
        fs = session_fs(facts, self.state.hostname, self.ctx, self.rec, service="telnet")
        name = username if _USER_NAME.fullmatch(username) else "root"  # it becomes a path: /home/<name>
        shell = Shell(facts=facts, hostname=self.state.hostname, username=name, fs=fs,
                      events=_Downloads(self.rec), now=self._now, client_ip=self.rec.src_ip)
        if self.persona.shell == "busybox" and self.persona.busybox is not None:
            make_busybox(shell, self.persona.busybox)
        self.shell = shell
        self.stage = Stage.SHELL
        self.reader.echo = True
        self._write_text(self._fill(self.persona.motd) + self._prompt())

    def _shell_item(self, kind: str, text: str) -> None:
        assert self.shell is not None and self.rec is not None
        if kind == "interrupt":
            self.reader.discard()
            self._write_text(self._prompt())
            return
        if kind == "eof":
            self._logout("")
            return
        if not text.strip():
            self._write_text(self._prompt())
            return
        self.commands += 1
        if self.commands > self.ctx.limits.max_commands:
            self._finish("cap-commands")
            return
        result = self.shell.run_line(text)
        self.rec.record(SshCommand(line=text[:MAX_EVENT_FIELD], channel="shell", handled=result.handled))
        if result.exit:
            self._logout(result.output)
            return
        self._write_text(result.output + self._prompt())

    def _logout(self, output: str) -> None:
        self._write_text(output + self.persona.logout)
        self._finish("client-closed")

    # -- output --------------------------------------------------------------------------------

    def _prompt(self) -> str:
        shell = self.shell
        assert shell is not None
        if self.persona.prompt is None:
            return shell.prompt()
        return self.persona.prompt.format(user=shell.username, hostname=self.state.hostname, cwd=shell.cwd,
                                          sign="#" if shell.username == "root" else "$")

    def _fill(self, text: str) -> str:
        facts = self.persona.system
        # pam_lastlog's line: the previous login (an admin's, a day ago), in its strftime format
        when = self.ctx.clock.now().astimezone(UTC) - timedelta(hours=26, minutes=13, seconds=41)
        return (text.replace("{hostname}", self.state.hostname).replace("{kernel_release}", facts.kernel_release)
                .replace("{kernel_version}", facts.kernel_version).replace("{machine}", facts.machine)
                .replace("{last_login}", f"{when:%a %b %e %H:%M:%S %Z %Y}"))

    def _write_text(self, text: str, *, raw: bool = False) -> None:
        """Text as a terminal shows it: LF becomes CR LF (a pty's onlcr) unless the persona wrote it raw."""
        if not raw:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        data = text.encode("utf-8", "replace")
        self._write(data.replace(bytes((IAC,)), bytes((IAC, IAC))))

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.finished:
            assert self.rec is not None
            self.rec.bytes_out += len(data)
            self.transport.write(data)

    def _now(self) -> datetime:
        return self.ctx.clock.now().astimezone(UTC)

    def _finish(self, reason: str) -> None:
        if self._close_session(reason, abort_on=("shutdown", "error", "cap-bytes")):
            self.stage = Stage.DONE
