"""``$(( ... ))``: integer arithmetic as bash does it, by a small parser (never eval).

Supports + - * / % ( ), unary minus, decimal numbers and variable names; anything else, or a
division by zero, gives 0 (bash would print an error; a quiet 0 is close enough for a decoy).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/%()]))")
_MAX_TOKENS = 200
_LIMIT = 1 << 63


def arithmetic(expression: str, variable: Callable[[str], str]) -> str:
    tokens = _tokens(expression, variable)
    if tokens is None:
        return "0"
    parser = _Parser(tokens)
    try:
        value = parser.sum()
        if parser.pos != len(tokens):
            return "0"
    except (ValueError, ZeroDivisionError, IndexError, RecursionError):
        return "0"
    return str(value)


def _tokens(expression: str, variable: Callable[[str], str]) -> list[int | str] | None:
    tokens: list[int | str] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None or len(tokens) >= _MAX_TOKENS:
            return None
        number, name, op = found.groups()
        if number is not None:
            tokens.append(int(number[:19]))
        elif name is not None:
            value = variable(name).strip()
            tokens.append(int(value) if value.isdigit() and value.isascii() and len(value) < 19 else 0)
        else:
            tokens.append(op)
        pos = found.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[int | str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def _peek(self) -> int | str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def sum(self) -> int:
        value = self.product()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            value = _wrap(value + self.product() if op == "+" else value - self.product())
        return value

    def product(self) -> int:
        value = self.unary()
        while self._peek() in ("*", "/", "%"):
            op = self.tokens[self.pos]
            self.pos += 1
            right = self.unary()
            if op == "*":
                value = _wrap(value * right)
            else:
                quotient = abs(value) // abs(right)  # bash truncates toward zero
                quotient = quotient if (value >= 0) == (right > 0) else -quotient
                value = quotient if op == "/" else value - right * quotient
        return value

    def unary(self) -> int:
        token = self._peek()
        if token in ("-", "+"):
            self.pos += 1
            value = self.unary()
            return -value if token == "-" else value
        if token == "(":
            self.depth += 1
            if self.depth > 50:
                raise ValueError("nested too deep")
            self.pos += 1
            value = self.sum()
            if self._peek() != ")":
                raise ValueError("missing )")
            self.pos += 1
            self.depth -= 1
            return value
        if isinstance(token, int):
            self.pos += 1
            return token
        raise ValueError(f"unexpected {token!r}")


def _wrap(value: int) -> int:
    """64-bit signed wrap-around, as bash's arithmetic does."""
    return (value + _LIMIT) % (2 * _LIMIT) - _LIMIT
