"""Downloaders: wget, curl, tftp, ftpget. Each records a Download event and NEVER fetches.

The transcript looks like a successful transfer, and a placeholder file of a plausible size
appears in the fake filesystem, so that the attacker's next step (chmod +x, ./file) shows up.
"""

from __future__ import annotations

import posixpath
import zlib
from urllib.parse import urlsplit

from honeyguard.sensor.shell.fs import FsError
from honeyguard.sensor.shell.registry import Invocation, command

# wget quotes file names with typographic quotes, as GNU wget does in a UTF-8 locale
_OPEN_QUOTE, _CLOSE_QUOTE = "\u2018", "\u2019"
_WGET_VALUE_OPTS = {"-O", "-o", "-P", "-t", "-T", "-U", "-e", "-a", "-w", "--header", "--user-agent", "--tries"}
_CURL_VALUE_OPTS = {"-o", "-A", "-H", "-d", "-X", "-e", "-u", "-m", "-x", "-b", "-c", "-F", "-T", "-r",
                    "--output", "--user-agent", "--header", "--data", "--request", "--max-time", "--connect-timeout",
                    "--retry", "--proxy", "--cookie"}


def _split(args: list[str], value_opts: set[str]) -> tuple[dict[str, str], set[str], list[str]]:
    """Options with values, bare flags and operands of a GNU-style command line."""
    values: dict[str, str] = {}
    flags: set[str] = set()
    operands: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            values[name] = value
        elif arg in value_opts and index < len(args):
            values[arg] = args[index]
            index += 1
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            index = _short_cluster(arg, args, index, value_opts, values, flags)
        elif arg.startswith("--"):
            flags.add(arg)
        else:
            operands.append(arg)
    return values, flags, operands


def _short_cluster(arg: str, args: list[str], index: int, value_opts: set[str], values: dict[str, str],
                   flags: set[str]) -> int:
    """'-qO-' or '-fsSLo file': flags up to the first option that takes a value, then its value."""
    for position, char in enumerate(arg[1:], start=2):
        if f"-{char}" in value_opts:
            rest = arg[position:]
            if rest:
                values[f"-{char}"] = rest
            elif index < len(args):
                values[f"-{char}"] = args[index]
                index += 1
            return index
        flags.add(char)
    return index


def _with_scheme(url: str) -> str:
    return url if "://" in url else "http://" + url


def _remote_name(url: str) -> str:
    try:
        path = urlsplit(url).path if "://" in url else url.partition("/")[2]
    except ValueError:  # 'http://[x/y': not a URL urllib accepts; name it as wget would, by its tail
        path = url.rsplit("/", 1)[-1]
    return posixpath.basename(path) or "index.html"


def _placeholder(url: str) -> bytes:
    """Bytes standing in for the file we did not fetch: a script header or an ELF header."""
    size = 1024 + zlib.crc32(url.encode()) % 60000
    if url.endswith((".sh", ".txt", ".py", ".pl", ".bash")):
        return b"#!/bin/sh\n" + b"#" * (size - 10)
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * (size - 8)


def _save(inv: Invocation, name: str, data: bytes) -> str | None:
    try:
        inv.shell.fs.write(inv.shell.path(name), data)
    except FsError as exc:
        return str(exc)
    return None


def _host(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "localhost", 80


def wget_targets(args: list[str]) -> list[tuple[str, str]]:
    """(URL, file it is saved to, "-" for stdout) for each URL of a wget command line."""
    values, _, operands = _split(args, _WGET_VALUE_OPTS)
    targets = []
    for raw in operands:
        url = _with_scheme(raw)
        target = values.get("-O") or values.get("--output-document") or _remote_name(url)
        if "-P" in values and "-O" not in values:
            target = posixpath.join(values["-P"], target)
        targets.append((url, target))
    return targets


def wget_quiet(args: list[str]) -> bool:
    _, flags, _ = _split(args, _WGET_VALUE_OPTS)
    return "q" in flags or "--quiet" in flags


def tftp_style(args: list[str]) -> bool:
    """`wget -g HOST -l LOCAL -r REMOTE`: BusyBox tftp's syntax, which some bots (Mozi) send to wget."""
    return "-g" in args and "-r" in args


@command("wget")
def wget(inv: Invocation) -> int:
    if tftp_style(inv.args):
        return _tftp_transfer(inv, "wget")
    _, flags, operands = _split(inv.args, _WGET_VALUE_OPTS)
    if not operands:
        inv.error("wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.")
        return 1
    quiet = "q" in flags
    for url, target in wget_targets(inv.args):
        inv.shell.events.download(url, "wget", inv.line)
        data = _placeholder(url)
        now = inv.shell.now()
        host, port = _host(url)
        if not quiet:
            inv.error(f"--{now:%Y-%m-%d %H:%M:%S}--  {url}")
            inv.error(f"Connecting to {host}:{port}... connected.")
            inv.error("HTTP request sent, awaiting response... 200 OK")
            inv.error(f"Length: {len(data)} ({len(data) / 1024:.1f}K) [application/octet-stream]")
            shown = target if target != "-" else "STDOUT"
            inv.error(f"Saving to: {_OPEN_QUOTE}{shown}{_CLOSE_QUOTE}\n")
            size = len(data)
            inv.error(f"{target[:18]:<18}  100%[===================>] {size / 1024:6.2f}K  --.-KB/s    in 0s\n")
            quoted = f"{_OPEN_QUOTE}{target}{_CLOSE_QUOTE}"
            inv.error(f"{now:%Y-%m-%d %H:%M:%S} (8.31 MB/s) - {quoted} saved [{size}/{size}]\n")
        if target == "-":
            continue
        problem = _save(inv, target, data)
        if problem:
            inv.error(f"{target}: {problem}")
            return 1
    return 0


@command("curl")
def curl(inv: Invocation) -> int:
    values, flags, operands = _split(inv.args, _CURL_VALUE_OPTS)
    if not operands:
        inv.error("curl: try 'curl --help' or 'curl --manual' for more information")
        return 2
    silent = "s" in flags or "--silent" in flags
    output = values.get("-o") or values.get("--output")
    for raw in operands:
        url = _with_scheme(raw)
        inv.shell.events.download(url, "curl", inv.line)
        data = _placeholder(url)
        target = output or (_remote_name(url) if "O" in flags or "--remote-name" in flags else None)
        if target is None:
            continue  # to stdout: the (unfetched) body is empty
        if not silent:
            size = f"{len(data) / 1024:.0f}k"
            inv.error("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current")
            inv.error("                                 Dload  Upload   Total   Spent    Left  Speed")
            inv.error(f"100 {size:>5}  100 {size:>5}    0     0   812k      0 --:--:-- --:--:-- --:--:--  816k")
        problem = _save(inv, target, data)
        if problem:
            inv.error(f"curl: (23) Failure writing output to destination ({problem})")
            return 23
    return 0


@command("tftp")
def tftp(inv: Invocation) -> int:
    return _tftp_transfer(inv, "tftp")


def _tftp_transfer(inv: Invocation, tool: str) -> int:
    """BusyBox `tftp -g -r REMOTE -l LOCAL HOST [PORT]` and tftp-hpa's `tftp HOST [PORT] -c get FILE [LOCAL]`."""
    values, _, operands = _split(inv.args, {"-r", "-l", "-c", "-b", "-m"})
    remote = values.get("-r")
    local = values.get("-l")
    if "-c" in values:  # `tftp HOST -c get FILE`: -c took "get", the file is an operand after HOST
        files = [o for o in operands[1:] if not o.isdigit()]
        remote = files[0] if files else None
        local = local or (files[1] if len(files) > 1 else None)
    host = operands[0] if operands else None
    if not host or not remote:
        inv.error("Usage: tftp [OPTIONS] HOST [PORT]")
        return 1
    port = next((o for o in operands[1:2] if o.isdigit()), "69")
    where = host if port == "69" else f"{host}:{port}"
    url = f"tftp://{where}/{remote.lstrip('/')}"
    inv.shell.events.download(url, tool, inv.line)
    local = local or posixpath.basename(remote) or "tftp.out"
    problem = _save(inv, local, _placeholder(url))
    if problem:
        inv.error(f"tftp: can't open '{local}': {problem}")
        return 1
    return 0


@command("ftpget")
def ftpget(inv: Invocation) -> int:
    values, _, operands = _split(inv.args, {"-u", "-p", "-P"})
    if len(operands) < 2:
        inv.error("Usage: ftpget [OPTIONS] HOST [LOCAL_FILE] REMOTE_FILE")
        return 1
    host, remote = operands[0], operands[-1]
    local = operands[1] if len(operands) > 2 else posixpath.basename(remote)
    port = values.get("-P", "21")
    where = host if port == "21" else f"{host}:{port}"
    url = f"ftp://{where}/{remote.lstrip('/')}"
    inv.shell.events.download(url, "ftpget", inv.line)
    problem = _save(inv, local or "ftpget.out", _placeholder(url))
    if problem:
        inv.error(f"ftpget: can't open '{local}': {problem}")
        return 1
    return 0
