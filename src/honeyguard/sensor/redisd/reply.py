"""RESP2 replies, and the error wordings that differ between Redis versions."""

from __future__ import annotations

Value = bytes | str | int | None | list["Value"]

OK = b"+OK\r\n"
NIL = b"$-1\r\n"


def simple(text: str) -> bytes:
    return b"+" + _one_line(text) + b"\r\n"


def error(text: str) -> bytes:
    return b"-" + _one_line(text) + b"\r\n"


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def bulk(value: bytes | str | None) -> bytes:
    if value is None:
        return NIL
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(items: list[Value]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(encode(item) for item in items)


def encode(value: Value) -> bytes:
    if isinstance(value, list):
        return array(value)
    if isinstance(value, int):
        return integer(value)
    return bulk(value)


def _one_line(text: str) -> bytes:
    """Redis replaces newlines in status and error replies with spaces (they would break the protocol)."""
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def unknown_command(version: tuple[int, int], name: str, args: list[str]) -> bytes:
    """The "unknown command" error as the version words it (quotes changed in 6.2)."""
    shown = ""
    if version >= (6, 2):
        for arg in args:
            if len(shown) >= 128:
                break
            shown += f"'{arg[:128 - len(shown)]}' "
        return error(f"ERR unknown command '{name[:128]}', with args beginning with: {shown}")
    for arg in args:
        if len(shown) >= 128:
            break
        shown += f"`{arg[:128 - len(shown)]}`, "
    return error(f"ERR unknown command `{name[:128]}`, with args beginning with: {shown}")


def wrong_arity(name: str) -> bytes:
    return error(f"ERR wrong number of arguments for '{name}' command")


def unknown_subcommand(version: tuple[int, int], command: str, sub: str) -> bytes:
    if version >= (7, 0):
        return error(f"ERR unknown subcommand '{sub[:128]}'. Try {command.upper()} HELP.")
    return error(f"ERR Unknown subcommand or wrong number of arguments for '{sub[:128]}'. "
                 f"Try {command.upper()} HELP.")
