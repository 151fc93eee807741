"""Files: ls, cd, pwd, cat, echo, mkdir, rm, touch, chmod, cp, mv, head, tail, grep, wc, printf."""

from __future__ import annotations

import posixpath
import stat
from datetime import UTC, datetime

from honeyguard.sensor.shell.fs import FsError, Node
from honeyguard.sensor.shell.registry import Invocation, command


@command("pwd")
def pwd(inv: Invocation) -> int:
    inv.print(inv.shell.cwd)
    return 0


@command("cd")
def cd(inv: Invocation) -> int:
    shell = inv.shell
    target = inv.args[0] if inv.args else shell.home
    if target == "-":
        target = shell.env.get("OLDPWD", shell.cwd)
    path = shell.path(target)
    node = shell.fs.get(path)
    problem = "No such file or directory" if node is None else "Not a directory" if not node.is_dir else ""
    if problem:
        if shell.flavour == "busybox":  # ash words it its own way
            inv.error(f"{shell.error_prefix}: cd: can't cd to {target}: {problem}")
        else:
            inv.error(f"{shell.error_prefix}: cd: {target}: {problem}")
        return 1
    shell.set_cwd(path)
    return 0


@command("echo")
def echo(inv: Invocation) -> int:
    args = list(inv.args)
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-ne", "-en", "-E"):
        flag = args.pop(0)
        newline = newline and "n" not in flag
        escapes = escapes or "e" in flag
    text = " ".join(args)
    if escapes:
        text = _unescape(text)
    inv.print(text, end="\n" if newline else "")
    return 0


@command("printf")
def printf(inv: Invocation) -> int:
    if not inv.args:
        inv.error("printf: usage: printf [-v var] format [arguments]")
        return 2
    text = _unescape(inv.args[0])
    for arg in inv.args[1:]:
        text = text.replace("%s", arg, 1).replace("%d", arg, 1)
    inv.print(text, end="")
    return 0


def _unescape(text: str) -> str:
    table = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "a": "\a", "e": "\x1b", "0": ""}
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            nxt = text[index + 1]
            if nxt in "x0":  # \xHH (one or two hex digits) and \0NNN (up to three octal digits)
                run = text[index + 2: index + (4 if nxt == "x" else 5)]
                allowed = "0123456789abcdefABCDEF" if nxt == "x" else "01234567"
                digits = run[: len(run) - len(run.lstrip(allowed))]
                if digits or nxt == "0":
                    out.append(chr(int(digits, 16 if nxt == "x" else 8) % 256) if digits else "")
                    index += 2 + len(digits)
                    continue
            if nxt == "c":  # \c: no further output
                break
            out.append(table.get(nxt, "\\" + nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


@command("cat")
def cat(inv: Invocation) -> int:
    _, operands = inv.flags()
    if not operands:
        inv.out.append(inv.stdin)
        return 0
    status = 0
    for name in operands:
        try:
            inv.out.append(inv.shell.fs.read(inv.shell.path(name)).decode(errors="replace"))
        except FsError as exc:
            inv.error(f"cat: {name}: {exc}")
            status = 1
    return status


def _lines_of(inv: Invocation, operands: list[str]) -> list[str] | None:
    if not operands:
        return inv.stdin.splitlines(keepends=True)
    try:
        return inv.shell.fs.read(inv.shell.path(operands[0])).decode(errors="replace").splitlines(keepends=True)
    except FsError as exc:
        inv.error(f"{inv.name}: cannot open '{operands[0]}' for reading: {exc}")
        return None


def _count(inv: Invocation) -> tuple[int, list[str]]:
    count, operands, args = 10, [], list(inv.args)
    while args:
        arg = args.pop(0)
        if arg == "-n" and args:
            count = _int(args.pop(0), 10)
        elif arg.startswith("-") and arg[1:].isdecimal():
            count = _int(arg[1:], 10)
        elif not arg.startswith("-"):
            operands.append(arg)
    return abs(count), operands


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


@command("head")
def head(inv: Invocation) -> int:
    count, operands = _count(inv)
    lines = _lines_of(inv, operands)
    if lines is None:
        return 1
    inv.out.extend(lines[:count])
    return 0


@command("tail")
def tail(inv: Invocation) -> int:
    count, operands = _count(inv)
    lines = _lines_of(inv, operands)
    if lines is None:
        return 1
    inv.out.extend(lines[-count:] if count else [])
    return 0


@command("grep")
def grep(inv: Invocation) -> int:
    opts, operands = inv.flags()
    if not operands:
        inv.error("Usage: grep [OPTION]... PATTERNS [FILE]...")
        return 2
    pattern, files = operands[0], operands[1:]
    lines = _lines_of(inv, files[:1])
    if lines is None:
        return 2
    fold = "i" in opts

    def hit(line: str) -> bool:  # a substring match: regular expressions are not emulated
        found = (pattern.lower() in line.lower()) if fold else (pattern in line)
        return found != ("v" in opts)

    matched = [line for line in lines if hit(line)]
    if "c" in opts:
        inv.print(str(len(matched)))
    else:
        inv.out.extend(line if line.endswith("\n") else line + "\n" for line in matched)
    return 0 if matched else 1


@command("wc")
def wc(inv: Invocation) -> int:
    opts, operands = inv.flags()
    lines = _lines_of(inv, operands)
    if lines is None:
        return 1
    text = "".join(lines)
    figures = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
    chosen = [flag for flag in "lwc" if flag in opts] or ["l", "w", "c"]
    suffix = f" {operands[0]}" if operands else ""
    inv.print(" ".join(f"{figures[flag]:>{7 if len(chosen) > 1 else 1}}" for flag in chosen) + suffix)
    return 0


@command("mkdir")
def mkdir(inv: Invocation) -> int:
    opts, operands = inv.flags()
    if not operands:
        inv.error("mkdir: missing operand")
        return 1
    status = 0
    for name in operands:
        try:
            inv.shell.fs.mkdir(inv.shell.path(name), parents="p" in opts)
        except FsError as exc:
            inv.error(f"mkdir: cannot create directory '{name}': {exc}")
            status = 1
    return status


@command("rm", "rmdir")
def rm(inv: Invocation) -> int:
    opts, operands = inv.flags()
    if not operands:
        inv.error(f"{inv.name}: missing operand")
        return 1
    status = 0
    for name in operands:
        try:
            inv.shell.fs.remove(inv.shell.path(name), recursive="r" in opts or "R" in opts,
                                directory=inv.name == "rmdir" or "d" in opts)
        except FsError as exc:
            if "f" in opts and "No such" in str(exc):
                continue
            inv.error(f"{inv.name}: cannot remove '{name}': {exc}")
            status = 1
    return status


@command("touch")
def touch(inv: Invocation) -> int:
    _, operands = inv.flags()
    for name in operands:
        try:
            inv.shell.fs.touch(inv.shell.path(name))
        except FsError as exc:
            inv.error(f"touch: cannot touch '{name}': {exc}")
            return 1
    return 0


@command("chmod")
def chmod(inv: Invocation) -> int:
    operands = [a for a in inv.args if not (a.startswith("-") and a[1:].isalpha())]
    if len(operands) < 2:
        inv.error("chmod: missing operand")
        return 1
    mode_text, names = operands[0], operands[1:]
    recursive = any(a.startswith("-") and "R" in a for a in inv.args)
    status = 0
    for name in names:
        path = inv.shell.path(name)
        if recursive:
            for child in _descendants(inv.shell.fs, path):
                child_node = inv.shell.fs.get(child)
                new_child = _apply_mode(child_node.mode, mode_text) if child_node else None
                if child_node is not None and new_child is not None:
                    child_node.mode = new_child
        node = inv.shell.fs.get(path)
        if node is None:
            inv.error(f"chmod: cannot access '{name}': No such file or directory")
            status = 1
            continue
        new_mode = _apply_mode(node.mode, mode_text)
        if new_mode is None:
            inv.error(f"chmod: invalid mode: '{mode_text}'")
            return 1
        node.mode = new_mode
    return status


def _descendants(fs, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    node = fs.get(path)
    if node is None or not node.is_dir:
        return []
    found = []
    for child in sorted(node.children):
        child_path = posixpath.join(path, child)
        found.append(child_path)
        found.extend(_descendants(fs, child_path))
    return found


def _apply_mode(mode: int, text: str) -> int | None:
    if text and all(c in "01234567" for c in text):
        return int(text, 8) & 0o7777
    for clause in text.split(","):
        who = "".join(c for c in clause if c in "ugoa") or "a"
        rest = clause[len(clause) - len(clause.lstrip("ugoa")):]
        if not rest or rest[0] not in "+-=":
            return None
        bits = 0
        who_mask = sum(0o7 << shift for person, shift in (("u", 6), ("g", 3), ("o", 0))
                       if person in who or "a" in who)
        for perm in rest[1:]:
            if perm not in "rwxXst":
                return None
            for person, shift in (("u", 6), ("g", 3), ("o", 0)):
                if person in who or "a" in who:
                    bits |= {"r": 4, "w": 2, "x": 1, "X": 1}.get(perm, 0) << shift
        if rest[0] == "+":
            mode |= bits
        elif rest[0] == "-":
            mode &= ~bits
        else:  # '=': the named classes get exactly these bits, the others keep theirs
            mode = (mode & ~who_mask) | bits
    return mode


@command("cp", "mv")
def copy_or_move(inv: Invocation) -> int:
    _, operands = inv.flags()
    if len(operands) < 2:
        inv.error(f"{inv.name}: missing destination file operand after '{operands[0] if operands else ''}'")
        return 1
    fs = inv.shell.fs
    source, target = inv.shell.path(operands[0]), inv.shell.path(operands[1])
    try:
        if inv.name == "mv":
            fs.rename(source, target)
        else:
            data = fs.read(source)
            if fs.is_dir(target):
                target = posixpath.join(target, posixpath.basename(source))
            fs.write(target, data, mode=fs.stat(source).mode, program=fs.stat(source).program)
    except FsError as exc:
        inv.error(f"{inv.name}: cannot stat '{operands[0]}': {exc}")
        return 1
    return 0


@command("ls", "dir")
def ls(inv: Invocation) -> int:
    opts, operands = inv.flags()
    fs, status = inv.shell.fs, 0
    for name in operands or ["."]:
        path = inv.shell.path(name)
        node = fs.get(path)
        if node is None:
            inv.error(f"ls: cannot access '{name}': No such file or directory")
            status = 2
            continue
        if len(operands) > 1 and node.is_dir:
            if inv.out:
                inv.print()  # a blank line between listings, as ls prints
            inv.print(f"{name}:")
        entries = _entries(fs, path, node, all_="a" in opts or "A" in opts, dots="a" in opts, shown=name)
        if "l" in opts:
            if node.is_dir:  # `ls -l file` prints no total line
                inv.print(f"total {sum((e[1].size + 1023) // 1024 for e in entries)}")
            for entry_name, entry in entries:
                inv.print(_long_line(entry_name, entry))
        elif entries:
            inv.print("  ".join(entry_name for entry_name, _ in entries))
    return status


def _entries(fs, path: str, node: Node, *, all_: bool, dots: bool,  # type: ignore[no-untyped-def]
             shown: str) -> list[tuple[str, Node]]:
    if not node.is_dir:
        return [(shown, node)]  # a file operand is listed as it was named
    found = []
    if dots:
        found.append((".", node))
        found.append(("..", fs.get(posixpath.dirname(path)) or node))
    for child in fs.listdir(path):
        if child.startswith(".") and not all_:
            continue
        child_node = fs.get(posixpath.join(path, child))
        if child_node is not None:
            found.append((child, child_node))
    return found


def _long_line(name: str, node: Node) -> str:
    kind = stat.S_IFDIR if node.is_dir else stat.S_IFREG
    mode = stat.filemode(kind | node.mode)
    when = datetime.fromtimestamp(node.mtime or 1_700_000_000, UTC)
    links = 2 if node.is_dir else 1
    return f"{mode} {links} {node.owner} {node.owner} {node.size:>6} {when:%b %e %H:%M} {name}"
