"""Text tools bots pipe through: awk (the ``{print $N}`` subset), cut, sort, uniq, tr, getconf."""

from __future__ import annotations

import re

from honeyguard.sensor.shell.registry import Invocation, command

_PRINT = re.compile(r"^\s*(?:/([^/]*)/\s*)?\{\s*print\s*(.*?)\s*;?\s*\}\s*$")
_FIELD = re.compile(r"^\$(\d+|NF)$")


@command("awk")
def awk(inv: Invocation) -> int:
    """Only ``[/regex/] {print $1, $3}`` programs: what recon one-liners use. Anything else prints nothing."""
    args = list(inv.args)
    separator: str | None = None
    if args and args[0].startswith("-F"):
        flag = args.pop(0)
        separator = flag[2:] or (args.pop(0) if args else None)
    if not args:
        inv.error("usage: awk [-F fs][-v var=value][prog | -f progfile][file ...]")
        return 2
    found = _PRINT.match(args[0])
    if found is None:
        return 0
    pattern, fields = found.group(1), [f.strip() for f in found.group(2).split(",") if f.strip()]
    lines = inv.stdin.splitlines() if len(args) < 2 else _read(inv, args[1])
    for line in lines:
        if pattern is not None and pattern not in line:
            continue
        parts = line.split(separator) if separator else line.split()
        inv.print(" ".join(_field(parts, line, name) for name in fields) if fields else line)
    return 0


def _field(parts: list[str], line: str, name: str) -> str:
    found = _FIELD.match(name)
    if found is None:
        return name.strip('"')  # a string literal, or something we do not emulate
    if found.group(1) == "NF":
        return parts[-1] if parts else ""
    index = int(found.group(1)[:6])
    if index == 0:
        return line
    return parts[index - 1] if index <= len(parts) else ""


def _read(inv: Invocation, name: str) -> list[str]:
    return inv.shell.fs.read(inv.shell.path(name)).decode(errors="replace").splitlines()


@command("cut")
def cut(inv: Invocation) -> int:
    args = " ".join(inv.args)
    delimiter = re.search(r"-d\s*'?(.)'?", args)
    fields = re.search(r"-f\s*([\d,]+)", args)
    wanted = [int(f) for f in fields.group(1).split(",") if f.isdigit() and f.isascii()] if fields else [1]
    sep = delimiter.group(1) if delimiter else "\t"
    for line in inv.stdin.splitlines():
        parts = line.split(sep)
        inv.print(sep.join(parts[i - 1] for i in wanted if 0 < i <= len(parts)))
    return 0


@command("sort")
def sort(inv: Invocation) -> int:
    lines = sorted(inv.stdin.splitlines(), reverse="-r" in inv.args)
    inv.out.extend(line + "\n" for line in lines)
    return 0


@command("uniq")
def uniq(inv: Invocation) -> int:
    previous = None
    for line in inv.stdin.splitlines():
        if line != previous:
            inv.print(line)
        previous = line
    return 0


@command("tr")
def tr(inv: Invocation) -> int:
    operands = [a for a in inv.args if not a.startswith("-")]
    if "-d" in inv.args and operands:
        inv.out.append(inv.stdin.translate({ord(c): None for c in operands[0]}))
    elif len(operands) >= 2:
        source, target = _ranges(operands[0]), _ranges(operands[1])
        target = (target + target[-1:] * len(source))[: len(source)] if target else ""
        inv.out.append(inv.stdin.translate(str.maketrans(source, target)) if target else inv.stdin)
    else:
        inv.out.append(inv.stdin)
    return 0


def _ranges(spec: str) -> str:
    """'a-z0-9' -> the characters it names (bounded: a hostile range cannot blow up)."""
    out: list[str] = []
    index = 0
    while index < len(spec) and len(out) < 1024:
        if index + 2 < len(spec) and spec[index + 1] == "-" and spec[index] <= spec[index + 2]:
            out.extend(chr(c) for c in range(ord(spec[index]), min(ord(spec[index + 2]), ord(spec[index]) + 256) + 1))
            index += 3
        else:
            out.append(spec[index])
            index += 1
    return "".join(out[:1024])


@command("getconf")
def getconf(inv: Invocation) -> int:
    values = {"LONG_BIT": "64" if inv.shell.facts.machine.endswith("64") else "32",
              "_NPROCESSORS_ONLN": str(inv.shell.facts.cpu_count), "PAGESIZE": "4096", "PAGE_SIZE": "4096"}
    if not inv.args or inv.args[0] not in values:
        inv.error(f"getconf: Unrecognized variable '{inv.args[0] if inv.args else ''}'")
        return 1
    inv.print(values[inv.args[0]])
    return 0
