"""Commands droppers run between download and launch: dd, test / [, date, basename, dirname, sed,
mount, netstat, dmesg, base64.

``dd`` matters most: Mirai reads the first 52 bytes of ``/bin/echo`` to learn the architecture,
and the answer comes from the ELF header the fake /bin holds (binaries.py). Every size is capped.
"""

from __future__ import annotations

import base64 as b64
import binascii
import posixpath

from honeyguard.sensor.shell.fs import FsError
from honeyguard.sensor.shell.registry import Invocation, command

MAX_DD_BYTES = 1024 * 1024
_SIZE_SUFFIX = {"": 1, "c": 1, "w": 2, "b": 512, "k": 1024, "K": 1024, "M": 1024 * 1024}


def _size(text: str, default: int) -> int:
    digits = text.rstrip("cwbkKM")
    suffix = text[len(digits):]
    if not digits.isdecimal() or not digits.isascii() or len(digits) > 9 or suffix not in _SIZE_SUFFIX:
        return default
    return int(digits) * _SIZE_SUFFIX[suffix]


@command("dd")
def dd(inv: Invocation) -> int:
    options = dict(arg.partition("=")[::2] for arg in inv.args if "=" in arg)
    block = max(1, _size(options.get("bs", options.get("ibs", "512")), 512))
    count = _size(options["count"], 0) if "count" in options else None
    skip = _size(options.get("skip", "0"), 0)
    source = options.get("if")
    try:
        data = inv.shell.fs.read(inv.shell.path(source)) if source else inv.stdin.encode()
    except FsError as exc:
        inv.error(f"dd: {'can' + chr(39) + 't open' if _busybox(inv) else 'failed to open'} '{source}': {exc}")
        return 1
    start = min(skip * block, len(data))
    end = len(data) if count is None else min(len(data), start + count * block)
    chunk = data[start:min(end, start + MAX_DD_BYTES)]
    target = options.get("of")
    if target:
        try:
            inv.shell.fs.write(inv.shell.path(target), chunk)
        except FsError as exc:
            inv.error(f"dd: {target}: {exc}")
            return 1
    else:
        inv.out.append(chunk.decode(errors="replace"))
    whole, part = divmod(len(chunk), block)
    records = f"{whole}+{1 if part else 0}"
    inv.error(f"{records} records in\n{records} records out")
    if _busybox(inv):
        inv.error(f"{len(chunk)} bytes ({_human(len(chunk))}) copied, 0.000231 seconds, {_human(len(chunk) * 4329)}/s")
    else:
        inv.error(f"{len(chunk)} bytes copied, 0.000231 s, {_human(len(chunk) * 4329, si=True)}/s")
    return 0


def _busybox(inv: Invocation) -> bool:
    return inv.shell.flavour == "busybox"


def _human(size: int, *, si: bool = False) -> str:
    if si:
        for unit in ("B", "kB", "MB", "GB"):
            if size < 1000:
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size //= 1000
        return f"{size} TB"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TB"


@command("test", "[", "[[")
def test(inv: Invocation) -> int:
    args = list(inv.args)
    if inv.name in ("[", "[["):
        closing = "]" if inv.name == "[" else "]]"
        if not args or args[-1] != closing:
            inv.error(f"{inv.shell.error_prefix}: {inv.name}: missing `{closing}'")
            return 2
        args = args[:-1]
    return 0 if _truth(inv, args) else 1


_FILE_TESTS = {"-e", "-f", "-d", "-x", "-r", "-w", "-s", "-L", "-h"}
_INT_TESTS = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__, "-gt": int.__gt__,
              "-ge": int.__ge__}


def _truth(inv: Invocation, args: list[str]) -> bool:
    if args[:1] == ["!"]:
        return not _truth(inv, args[1:])
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op == "-z":
            return operand == ""
        if op == "-n":
            return operand != ""
        if op in _FILE_TESTS:
            return _file_test(inv, op, operand)
        return False
    left, op, right = args[:3]
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    if op in _INT_TESTS:
        try:
            return bool(_INT_TESTS[op](int(left[:19]), int(right[:19])))
        except ValueError:
            return False
    return False


def _file_test(inv: Invocation, op: str, name: str) -> bool:
    node = inv.shell.fs.get(inv.shell.path(name))
    if node is None:
        return False
    checks = {"-f": not node.is_dir, "-d": node.is_dir, "-x": bool(node.mode & 0o111),
              "-s": node.size > 0, "-L": False, "-h": False}
    return checks.get(op, True)


@command("date")
def date(inv: Invocation) -> int:
    now = inv.shell.now()
    formats = [a[1:] for a in inv.args if a.startswith("+")]
    if formats:
        fmt = formats[0][:256].replace("%N", "000000000")
        try:
            inv.print(now.strftime(fmt))
        except ValueError:
            inv.print(fmt)
        return 0
    inv.print(now.strftime("%a %b %e %H:%M:%S UTC %Y"))
    return 0


@command("basename")
def basename(inv: Invocation) -> int:
    operands = [a for a in inv.args if not a.startswith("-")]
    if not operands:
        inv.error("basename: missing operand")
        return 1
    name = posixpath.basename(operands[0].rstrip("/")) or "/"
    if len(operands) > 1 and name.endswith(operands[1]) and name != operands[1]:
        name = name[: -len(operands[1])]
    inv.print(name)
    return 0


@command("dirname")
def dirname(inv: Invocation) -> int:
    operands = [a for a in inv.args if not a.startswith("-")]
    if not operands:
        inv.error("dirname: missing operand")
        return 1
    inv.print(posixpath.dirname(operands[0].rstrip("/")) or ".")
    return 0


@command("sed")
def sed(inv: Invocation) -> int:
    """``sed -i ...`` edits nothing (and says nothing); ``sed s/a/b/[g]`` on a stream replaces text literally."""
    args = [a for a in inv.args if a not in ("-e", "-n", "-r", "-E")]
    if any(a.startswith("-i") for a in args):
        return 0
    script = args[0] if args else ""
    text = inv.stdin
    if len(args) > 1:
        try:
            text = inv.shell.fs.read(inv.shell.path(args[1])).decode(errors="replace")
        except FsError as exc:
            inv.error(f"sed: can't read {args[1]}: {exc}")
            return 2
    if len(script) > 3 and script[0] == "s":
        pieces = script[2:].split(script[1])
        if len(pieces) >= 2 and pieces[0]:
            text = text.replace(pieces[0], pieces[1], -1 if "g" in "".join(pieces[2:]) else 1)
    inv.out.append(text)
    return 0


@command("mount")
def mount(inv: Invocation) -> int:
    if [a for a in inv.args if not a.startswith("-")]:
        return 0  # remounting /tmp exec or rw: it "works"
    try:
        inv.out.append(inv.shell.fs.read("/proc/mounts").decode(errors="replace"))
    except FsError:
        inv.print("/dev/sda1 on / type ext4 (rw,relatime)")
    return 0


@command("netstat")
def netstat(inv: Invocation) -> int:
    inv.print("Active Internet connections (only servers)")
    inv.print("Proto Recv-Q Send-Q Local Address           Foreign Address         State")
    ports = ("23", "80") if _busybox(inv) else ("22",)
    for port in ports:
        inv.print(f"tcp        0      0 0.0.0.0:{port:<16}0.0.0.0:*               LISTEN")
    return 0


@command("dmesg")
def dmesg(inv: Invocation) -> int:
    facts = inv.shell.facts
    inv.print(f"[    0.000000] Linux version {facts.kernel_release} {facts.kernel_version}")
    inv.print(f"[    0.000000] CPU0 revision is: {facts.cpu_model}")
    return 0


MAX_BASE64_INPUT = 256 * 1024


@command("base64")
def base64(inv: Invocation) -> int:
    """``echo ... | base64 -d | bash``: the decoded script then runs through the emulator like any other."""
    operands = [a for a in inv.args if not a.startswith("-")]
    try:
        data = inv.shell.fs.read(inv.shell.path(operands[0])) if operands else inv.stdin.encode()
    except FsError as exc:
        inv.error(f"base64: {operands[0]}: {exc}")
        return 1
    data = data[:MAX_BASE64_INPUT]
    if any(a in ("-d", "--decode", "-D") for a in inv.args):
        try:
            inv.out.append(b64.b64decode(b"".join(data.split()), validate=False).decode(errors="replace"))
        except (binascii.Error, ValueError):
            inv.error("base64: invalid input")
            return 1
        return 0
    encoded = b64.b64encode(data).decode()
    inv.out.extend(encoded[i:i + 76] + "\n" for i in range(0, len(encoded), 76))
    return 0
