"""Commands scanners probe injection with: ``expr 7 \\* 7`` (prints 49) and ``ping`` (router forms).

``expr`` answers only the one-operator forms (``A op B``, ``length S``); longer expressions get
expr's own "syntax error", and integers are capped so that no argument can make a huge number.
``ping`` prints a successful exchange and sends nothing: nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
import zlib

from honeyguard.sensor.shell.registry import Invocation, command

_MAX_DIGITS = 19
_INTEGER_OPS = {"+", "-", "*", "/", "%"}
_COMPARE_OPS = {"=", "==", "!=", "<", "<=", ">", ">="}


def _integer(text: str) -> int | None:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit() or len(body) > _MAX_DIGITS:
        return None
    return int(text)


def _compare(left: str, op: str, right: str) -> bool:
    a, b = _integer(left), _integer(right)
    pair: tuple[int, int] | tuple[str, str] = (a, b) if a is not None and b is not None else (left, right)
    x, y = pair
    return {"=": x == y, "==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,  # type: ignore[operator]
            ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]


def _evaluate(args: list[str]) -> str | None:
    """The printed result, or None for a syntax error (a ValueError for bad integers)."""
    if len(args) == 1:
        return args[0]
    if len(args) == 2 and args[0] == "length":
        return str(len(args[1]))
    if len(args) != 3:
        return None
    left, op, right = args
    if op in _COMPARE_OPS:
        return "1" if _compare(left, op, right) else "0"
    if op not in _INTEGER_OPS:
        return None
    a, b = _integer(left), _integer(right)
    if a is None or b is None:
        raise ValueError("non-integer argument")
    if op in "/%" and b == 0:
        raise ValueError("division by zero")
    if op == "+":
        return str(a + b)
    if op == "-":
        return str(a - b)
    if op == "*":
        return str(a * b)
    quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # expr truncates toward zero
    return str(quotient) if op == "/" else str(a - b * quotient)


@command("expr")
def expr(inv: Invocation) -> int:
    if not inv.args:
        inv.error("expr: missing operand\nTry 'expr --help' for more information.")
        return 2
    try:
        result = _evaluate(inv.args)
    except ValueError as exc:
        inv.error(f"expr: {exc}")
        return 2
    if result is None:
        inv.error("expr: syntax error: unexpected argument")
        return 2
    inv.print(result)
    return 1 if result in ("0", "") else 0


_PING_VALUE_OPTS = {"-c", "-s", "-W", "-w", "-i", "-I", "-t", "-q"}


def _fake_address(host: str) -> str:
    """The address a name "resolves" to: the literal itself, or a stable documentation address."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return f"198.51.100.{zlib.crc32(host.encode()) % 254 + 1}"


@command("ping")
def ping(inv: Invocation) -> int:
    count, operands, index = 1, [], 0
    args = inv.args
    while index < len(args):
        arg = args[index]
        if arg in _PING_VALUE_OPTS and index + 1 < len(args):
            if arg == "-c" and args[index + 1].isdigit():
                count = max(1, min(int(args[index + 1]), 5))
            index += 2
            continue
        if not arg.startswith("-"):
            operands.append(arg)
        index += 1
    if not operands:
        inv.error("ping: usage error: Destination address required")
        return 1
    host = operands[0][:255]
    address = _fake_address(host)
    inv.print(f"PING {host} ({address}): 56 data bytes")
    for seq in range(count):
        inv.print(f"64 bytes from {address}: seq={seq} ttl=64 time={0.312 + seq * 0.041:.3f} ms")
    inv.print(f"\n--- {host} ping statistics ---")
    inv.print(f"{count} packets transmitted, {count} packets received, 0% packet loss")
    inv.print("round-trip min/avg/max = 0.312/0.331/0.353 ms")
    return 0
