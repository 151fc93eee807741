"""Run a parsed command line against the registry: chains, pipes, redirections, variables.

Everything is emulated: a "pipe" hands one command's text output to the next as its stdin, a
redirection writes into the session's FakeFs, ``$(...)`` runs the emulator again (depth-capped).
Every output is capped, so no line can make the sensor build an unbounded string.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from honeyguard.sensor.shell.arith import arithmetic
from honeyguard.sensor.shell.binaries import install_gnu, program_image
from honeyguard.sensor.shell.compound import run_compound
from honeyguard.sensor.shell.facts import SystemFacts
from honeyguard.sensor.shell.fs import FakeFs, FsError
from honeyguard.sensor.shell.parse import CommandList, Redirect, ShellSyntaxError, SimpleCommand, Word, parse
from honeyguard.sensor.shell.registry import Invocation, load_commands

log = logging.getLogger(__name__)

MAX_OUTPUT = 256 * 1024  # one command line's output, as an attacker would see it
MAX_DEPTH = 4  # nested $(...), ( ... ), loops and `sh script` levels
MAX_COMMANDS_PER_LINE = 1000  # commands one typed line may run, loops and scripts included
MAX_SCRIPT_LINES = 200
HISTORY_SIZE = 500


class ShellEvents(Protocol):
    def download(self, url: str, tool: str, command: str) -> None:
        """A wget/curl/tftp the attacker asked for: recorded, never fetched."""
        ...


class NoEvents:
    def download(self, url: str, tool: str, command: str) -> None:
        return None


@dataclass
class CommandResult:
    output: str  # what the terminal shows (stdout and stderr, in order per command)
    handled: bool  # False when some command was answered with "command not found"
    exit: bool = False  # the attacker typed exit/logout


class _Exit(Exception):
    """`exit` was run: unwinds to the line (or script) that owns the shell, carrying the output so far."""

    def __init__(self) -> None:
        super().__init__()
        self.output = ""


class Shell:
    def __init__(self, *, facts: SystemFacts, hostname: str, username: str = "root", fs: FakeFs | None = None,
                 events: ShellEvents | None = None, now: Callable[[], datetime] | None = None,
                 client_ip: str = "203.0.113.7") -> None:
        self.facts = facts
        self.hostname = hostname
        self.username = username
        self.home = facts.home if username == "root" else f"/home/{username}"
        self.fs = fs or FakeFs.build({**facts.generated_files(hostname), **facts.files}, facts.directories)
        if not self.fs.is_dir(self.home):
            self.fs.mkdir(self.home, parents=True)
        self.commands = load_commands()
        install_gnu(self.fs, [n for n in [*self.commands, *facts.installed] if n not in BUILTINS], program_image(facts))
        self.silent_programs: set[str] = set(facts.installed)  # installed, not emulated: they succeed quietly
        self.events = events or NoEvents()
        self.now = now or (lambda: datetime.now(UTC))
        self.client_ip = client_ip
        self.cwd = self.home
        self.env: dict[str, str] = {
            "HOME": self.home, "USER": username, "LOGNAME": username, "SHELL": "/bin/bash",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PWD": self.home,
            "TERM": "xterm-256color", "LANG": "C.UTF-8", "HOSTNAME": hostname,
        }
        self.history: list[str] = []
        self.last_status = 0
        self.pid = 1000 + (sum(hostname.encode()) * 7) % 30000
        self._depth = 0
        self._budget = MAX_COMMANDS_PER_LINE
        self._sub_errors: list[str] = []  # stderr of the $(...) in the command being expanded
        self._handled = True
        self.error_prefix = "-bash"  # how bash names itself in errors: "bash: line 1" for `ssh host cmd`
        self.not_found = "command not found"  # BusyBox's ash says just "not found"
        self.flavour = "gnu"  # "busybox": applets print BusyBox's wording (dd, wget)
        self.segfault = "Segmentation fault (core dumped)"  # ash on a router (no core dumps): no suffix

    def prompt(self) -> str:
        where = "~" if self.cwd == self.home else (
            "~" + self.cwd[len(self.home):] if self.cwd.startswith(self.home + "/") else self.cwd)
        sign = "#" if self.username == "root" else "$"
        return f"{self.username}@{self.hostname}:{where}{sign} "

    def path(self, name: str) -> str:
        return FakeFs.resolve(self.cwd, name, self.home)

    def run_line(self, line: str) -> CommandResult:
        """Run one line as typed; never raises for any input."""
        stripped = line.strip()
        if stripped:
            self.history.append(stripped)
            del self.history[:-HISTORY_SIZE]
        self._handled = True
        self._sub_errors = []
        self._budget = MAX_COMMANDS_PER_LINE
        self.fs.now = self.now().timestamp()
        try:
            output = self._run_text(line)
        except _Exit as stop:
            return CommandResult(output=stop.output, handled=self._handled, exit=True)
        return CommandResult(output=output, handled=self._handled)

    def run_script(self, text: str) -> str:
        """The lines of a script file, run in this shell (``sh file``, ``./file``)."""
        out: list[str] = []
        written = 0
        for line in text.splitlines()[:MAX_SCRIPT_LINES]:
            if self._budget < 0 or written > MAX_OUTPUT:
                break
            try:
                out.append(self._run_text(line))
            except _Exit as stop:  # `exit` in a script ends the script, not the login shell
                out.append(stop.output)
                break
            written += len(out[-1])
        return _cap("".join(out))

    def _run_text(self, line: str) -> str:
        if self._depth >= MAX_DEPTH:
            return ""
        self._depth += 1
        try:
            try:
                parsed = parse(line)
            except ShellSyntaxError as exc:
                self.last_status = 2
                return f"{self.error_prefix}: syntax error near unexpected token `{exc.token}'\n"
            return self._run_list(parsed)
        finally:
            self._depth -= 1

    def _run_list(self, parsed: CommandList) -> str:
        out: list[str] = []
        try:
            self._run_items(parsed, out)
        except _Exit as stop:
            stop.output = _cap("".join(out) + stop.output)
            raise
        return _cap("".join(out))

    def _run_items(self, parsed: CommandList, out: list[str], err: list[str] | None = None) -> None:
        """Run the list; stderr goes with stdout into ``out`` (a terminal) unless ``err`` keeps it apart."""
        errors = out if err is None else err
        written = 0
        for connector, pipeline in parsed.items:
            if self._budget < 0 or written > MAX_OUTPUT:
                break
            if (connector == "&&" and self.last_status != 0) or (connector == "||" and self.last_status == 0):
                continue
            stdin = ""
            for index, simple in enumerate(pipeline.commands):
                last = index == len(pipeline.commands) - 1
                stdout, stderr = self._run_simple(simple, stdin)
                errors.append(stderr)
                written += len(stderr)
                if last:
                    out.append(stdout)
                    written += len(stdout)
                stdin = stdout

    def run_captured(self, line: str) -> tuple[str, str]:
        """``( list )`` and ``$( list )``: stdout apart from stderr, which still reaches the terminal."""
        if self._depth >= MAX_DEPTH:
            return "", ""
        self._depth += 1
        out: list[str] = []
        err: list[str] = []
        try:
            self._run_items(parse(line), out, err)
        except ShellSyntaxError as exc:
            self.last_status = 2
            err.append(f"{self.error_prefix}: syntax error near unexpected token `{exc.token}'\n")
        except _Exit as stop:  # `exit` leaves the subshell only
            out.append(stop.output)
        finally:
            self._depth -= 1
        return _cap("".join(out)), _cap("".join(err))

    def _run_simple(self, simple: SimpleCommand, stdin: str) -> tuple[str, str]:
        if simple.words and len(simple.words[0]) == 1 and simple.words[0][0][0] in ("group", "compound"):
            kind, text = simple.words[0][0]
            if kind == "group":
                return self._redirect(*self.run_captured(text), simple.redirects)
            return self._redirect(run_compound(self, text), "", simple.redirects)
        outer, self._sub_errors = self._sub_errors, []
        words = [self.expand(word) for word in simple.words]
        sub_errors, self._sub_errors = "".join(self._sub_errors), outer
        while words and _is_assignment(words[0]):
            name, _, value = words.pop(0).partition("=")
            self.env[name] = value
        inv_stdin = stdin
        for redirect in simple.redirects:
            if redirect.op == "<":
                try:
                    inv_stdin = self.fs.read(self.path(self.expand(redirect.target))).decode(errors="replace")
                except FsError as exc:
                    self.last_status = 1
                    return "", f"{self.error_prefix}: {self.expand(redirect.target)}: {exc}\n"
        if not words:
            self.last_status = 0
            return self._redirect("", "", simple.redirects)
        inv = Invocation(shell=self, name=words[0], args=words[1:], stdin=inv_stdin, line=_render(words))
        status = self.dispatch(inv)
        self.last_status = status
        return self._redirect(_cap("".join(inv.out)), _cap(sub_errors + "".join(inv.err)), simple.redirects)

    def dispatch(self, inv: Invocation) -> int:
        """Run one command by name; unknown names answer like bash does."""
        self._budget -= 1
        if self._budget < 0:
            return 0  # the line has run its share: the rest answers nothing (bounded work per line)
        handler = self.commands.get(inv.name)
        if handler is None and "/" in inv.name:
            return self._execute_file(inv)
        if handler is None and inv.name in self.silent_programs:
            return 0
        if handler is None:
            self._handled = False
            inv.error(f"{self.error_prefix}: {inv.name}: {self.not_found}")
            return 127
        try:
            return handler(inv)
        except FsError as exc:
            inv.error(f"{inv.name}: {exc}")
            return 1
        except _Exit:
            raise
        except Exception:  # a bug in one emulated command must not end the attacker's session
            log.exception("emulated command %r failed", inv.name)
            inv.error(f"{inv.name}: Input/output error")
            return 1

    def exit(self, status: int = 0) -> None:
        self.last_status = status
        raise _Exit

    def _execute_file(self, inv: Invocation) -> int:
        path = self.path(inv.name)
        node = self.fs.get(path)
        prefix = self.error_prefix
        if node is None:
            missing = "No such file or directory" if self.not_found == "command not found" else self.not_found
            inv.error(f"{prefix}: {inv.name}: {missing}")
            return 127
        if node.is_dir:
            inv.error(f"{prefix}: {inv.name}: Is a directory")
            return 126
        if not node.mode & 0o111:
            inv.error(f"{prefix}: {inv.name}: Permission denied")
            return 126
        if node.program is not None and "/" not in node.program:  # an installed program: /usr/bin/wget, ./busybox
            if node.program not in self.commands:
                return 0  # a program of the system we do not emulate: it ran and said nothing
            return self.dispatch(Invocation(shell=self, name=node.program, args=inv.args, stdin=inv.stdin,
                                            line=inv.line, out=inv.out, err=inv.err))
        return self.execute_content(inv, node.data)

    def execute_content(self, inv: Invocation, data: bytes) -> int:
        """A binary crashes; a script's lines run through the emulator."""
        if data.startswith(b"\x7fELF") or b"\x00" in data[:512]:
            if self.error_prefix.startswith("bash: line"):  # non-interactive bash names the job
                inv.error(f"bash: line 1: {self.pid + 41} {self.segfault.replace(' (', '      (')} {inv.line}")
            else:
                inv.error(self.segfault)
            return 139
        inv.out.append(self.run_script(data.decode(errors="replace")))
        return 0

    def expand(self, word: Word) -> str:
        pieces: list[str] = []
        for kind, text in word:
            if kind == "lit":
                pieces.append(text)
            elif kind == "var":
                pieces.append(self._variable(text))
            elif kind == "arith":
                pieces.append(arithmetic(text, self._variable))
            elif kind == "group":
                pieces.append(f"({text})")
            elif kind == "compound":
                pieces.append(text)
            else:
                stdout, stderr = self.run_captured(text)
                pieces.append(stdout.rstrip("\n"))
                self._sub_errors.append(stderr)
        return "".join(pieces)

    def _variable(self, name: str) -> str:
        specials = {"?": str(self.last_status), "$": str(self.pid), "0": self.error_prefix.split(":")[0],
                    "#": "0", "!": ""}
        if name in specials:
            return specials[name]
        name = name.lstrip("#!")  # ${#X} and ${!X} degrade to ${X}
        name = name.split(":", 1)[0]
        return self.env.get(name, "")

    def _redirect(self, stdout: str, stderr: str, redirects: list[Redirect]) -> tuple[str, str]:
        for redirect in redirects:
            op = redirect.op
            if op == "2>&1":
                stdout, stderr = stdout + stderr, ""
            elif op == ">&2":
                stdout, stderr = "", stderr + stdout
            elif op in (">", ">>", "&>"):
                text = stdout + (stderr if op == "&>" else "")
                stderr = "" if op == "&>" else stderr
                error = self._write_file(self.expand(redirect.target), text, append=op == ">>")
                stdout = ""
                stderr += error
            elif op in ("2>", "2>>"):
                stderr = self._write_file(self.expand(redirect.target), stderr, append=op == "2>>")
        return stdout, stderr

    def _write_file(self, name: str, text: str, *, append: bool) -> str:
        if name in ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"):
            return ""
        try:
            self.fs.write(self.path(name), text.encode(), append=append)
        except FsError as exc:
            return f"{self.error_prefix}: {name}: {exc}\n"
        return ""

    def set_cwd(self, path: str) -> None:
        self.cwd = path
        self.env["OLDPWD"], self.env["PWD"] = self.env.get("PWD", path), path

    def which(self, name: str) -> str | None:
        """The first installed program of that name along $PATH, as `which` finds it."""
        if "/" in name or not name:
            return None
        for folder in self.env.get("PATH", "").split(":")[:32]:
            path = posixpath.join(folder or ".", name)
            node = self.fs.get(path)
            if node is not None and not node.is_dir and node.mode & 0o111:
                return path
        return None


# bash builtins: no file in /usr/bin for them (`which cd` prints nothing)
BUILTINS = frozenset({"cd", "exit", "logout", "export", "unset", "history", "alias", "unalias", "source", ".",
                      ":", "set", "shopt", "trap", "disown", "wait", "ulimit", "umask", "command", "type"})


def _is_assignment(word: str) -> bool:
    name, sep, _ = word.partition("=")
    return bool(sep) and name.isidentifier()


def _render(words: list[str]) -> str:
    return " ".join(words)


def _cap(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT]
