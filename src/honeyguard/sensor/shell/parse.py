"""Tokenize and parse one command line the way bash would, without executing anything.

Grammar (the subset attackers use): ``list := pipeline ((';' | '&' | '&&' | '||') pipeline)*``,
``pipeline := command ('|' command)*``, ``command := (word | redirection)*``. Words keep their
quoting so that ``$VAR`` and ``$(...)`` are expanded later, at execution time, in order
(``export A=1; echo $A`` must print 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# A word is a tuple of parts: ("lit", text), ("var", name), ("sub", command line), ("arith", expression),
# or, alone as a command's first word, ("group", the list inside "( ... )") or ("compound", the whole
# text of a for / while / until / if / case command), which the interpreter runs itself.
Part = tuple[str, str]
Word = tuple[Part, ...]

_OPERATORS = ("&&", "||", ";;", ">>", "&>", ">&", ";", "&", "|", ">", "<", "\n")
_SPECIAL_VARS = set("?$#!@*-0123456789")
_COMMAND_BREAKS = (";", "&", "&&", "||", "|", "\n")
_CLOSERS = {"for": "done", "while": "done", "until": "done", "if": "fi", "case": "esac"}
_RESERVED = {"do", "then", "else", "elif", "in"}
_KEYWORD_BEFORE = {None, ";", "&", "|", "&&", "||", "(", ")", "\n", "do", "then", "else", "elif", "{"}
_COMPOUND_WORD = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"|&&|\|\||[;&|()\n]|[^\s;&|()'\"]+")


class ShellSyntaxError(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


@dataclass
class Redirect:
    op: str  # '>', '>>', '<', '2>', '2>>', '&>', '2>&1', '>&2'
    target: Word = ()


@dataclass
class SimpleCommand:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[SimpleCommand]


@dataclass
class CommandList:
    items: list[tuple[str, Pipeline]]  # (connector before it: ';', '&&' or '||'; the first is ';')


class _Op(str):
    """An operator token, told apart from a word made of the same characters in quotes."""


def tokenize(line: str) -> list[Word | _Op]:
    return _Lexer(line).run()


def parse(line: str) -> CommandList:
    """The command list of ``line``; raises ShellSyntaxError like bash's 'unexpected token'."""
    tokens = tokenize(line)
    items: list[tuple[str, Pipeline]] = []
    connector = ";"
    pipeline: list[SimpleCommand] = []
    current = SimpleCommand()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not isinstance(token, _Op):
            current.words.append(token)
            continue
        if token in (">", ">>", "<", "2>", "2>>", "&>"):
            if index >= len(tokens) or isinstance(tokens[index], _Op):
                raise ShellSyntaxError(str(tokens[index]) if index < len(tokens) else "newline")
            current.redirects.append(Redirect(str(token), tokens[index]))  # type: ignore[arg-type]
            index += 1
        elif token in ("2>&1", ">&2"):
            current.redirects.append(Redirect(str(token)))
        elif token == "|":
            if _empty(current):
                raise ShellSyntaxError("|")
            pipeline.append(current)
            current = SimpleCommand()
        elif token in (";", "&", "\n", "&&", "||"):
            if _empty(current):
                if token == "\n" and not pipeline:
                    continue  # a blank line, or a newline after '&&' / '||'
                raise ShellSyntaxError("newline" if token == "\n" else str(token))
            pipeline.append(current)
            items.append((connector, Pipeline(pipeline)))
            connector = ";" if token in (";", "&", "\n") else str(token)
            pipeline, current = [], SimpleCommand()
        else:  # ';;' and anything else bash refuses here
            raise ShellSyntaxError(str(token))
    if _empty(current):
        if pipeline or connector in ("&&", "||"):
            raise ShellSyntaxError("newline")
    else:
        pipeline.append(current)
        items.append((connector, Pipeline(pipeline)))
    return CommandList(items)


def _empty(command: SimpleCommand) -> bool:
    return not command.words and not command.redirects


class _Lexer:
    def __init__(self, line: str) -> None:
        self.text = line
        self.pos = 0
        self.tokens: list[Word | _Op] = []
        self.parts: list[Part] = []
        self.literal: list[str] = []
        self.started = False  # a word is open (even an empty quoted one)
        self.quoted = False

    def run(self) -> list[Word | _Op]:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r":
                self._end_word()
                self.pos += 1
            elif char == "#" and not self.started:
                break  # a comment runs to the end of the line
            elif not self.started and self._command_start() and (end := compound_end(text, self.pos)) > 0:
                self._part(("compound", text[self.pos:end]))
                self.pos = end
            elif char == "(" and not self.started and self._command_start():
                end = _matching_paren(text, self.pos)
                self._part(("group", text[self.pos + 1: end]))
                self.pos = end + 1
            elif char == "~" and not self.started and text[self.pos + 1: self.pos + 2] in ("", "/", " ", ";"):
                self._part(("var", "HOME"))  # tilde expansion: only a bare leading ~
                self.pos += 1
            elif char == "\\":
                self._literal(text[self.pos + 1: self.pos + 2])
                self.pos += 2
            elif char == "'":
                end = text.find("'", self.pos + 1)
                end = len(text) if end < 0 else end
                self._literal(text[self.pos + 1: end])
                self.quoted = True
                self.pos = end + 1
            elif char == '"':
                self._double_quoted()
            elif char == "$":
                self._dollar()
            elif char == "`":
                end = text.find("`", self.pos + 1)
                end = len(text) if end < 0 else end
                self._part(("sub", text[self.pos + 1: end]))
                self.pos = end + 1
            elif self._operator():
                continue
            else:
                self._literal(char)
                self.pos += 1
        self._end_word()
        return self.tokens

    def _command_start(self) -> bool:
        """A command begins here: the line's start, or after an operator that ends one."""
        return not self.tokens or (isinstance(self.tokens[-1], _Op) and self.tokens[-1] in _COMMAND_BREAKS)

    def _operator(self) -> bool:
        text = self.text
        for op in _OPERATORS:
            if text.startswith(op, self.pos):
                break
        else:
            return False
        fd = "".join(self.literal) if self.started and not self.quoted and not self.parts else ""
        if op in (">", ">>", ">&") and fd in ("1", "2"):
            self.literal, self.started = [], False  # '2>' is a redirection of fd 2, not the word '2'
        else:
            fd = ""
            self._end_word()
        self.pos += len(op)
        if op == ">&":
            target = text[self.pos: self.pos + 1]
            if target in ("1", "2") and target:
                self.pos += 1
                if fd == "2" and target == "1":
                    self.tokens.append(_Op("2>&1"))
                elif fd != "2" and target == "2":
                    self.tokens.append(_Op(">&2"))
                return True  # '>&1' and '2>&2' change nothing
            self.tokens.append(_Op("&>"))  # '>& file' sends both streams to the file
            return True
        prefix = "2" if fd == "2" else ""
        self.tokens.append(_Op(prefix + op))
        return True

    def _double_quoted(self) -> None:
        text = self.text
        self.pos += 1
        self.quoted = True
        self.started = True
        while self.pos < len(text) and text[self.pos] != '"':
            char = text[self.pos]
            if char == "\\" and text[self.pos + 1: self.pos + 2] in ('"', "\\", "$", "`"):
                self._literal(text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                self._dollar()
            elif char == "`":
                end = text.find("`", self.pos + 1)
                end = len(text) if end < 0 else end
                self._part(("sub", text[self.pos + 1: end]))
                self.pos = end + 1
            else:
                self._literal(char)
                self.pos += 1
        self.pos += 1

    def _dollar(self) -> None:
        text = self.text
        nxt = text[self.pos + 1: self.pos + 2]
        if nxt == "{":
            end = text.find("}", self.pos + 2)
            end = len(text) if end < 0 else end
            self._part(("var", text[self.pos + 2: end]))
            self.pos = end + 1
        elif text.startswith("((", self.pos + 1):
            end = _matching_paren(text, self.pos + 1)
            self._part(("arith", text[self.pos + 3: end - 1]))
            self.pos = end + 1
        elif nxt == "(":
            end = _matching_paren(text, self.pos + 1)
            self._part(("sub", text[self.pos + 2: end]))
            self.pos = end + 1
        elif nxt in _SPECIAL_VARS and nxt:
            self._part(("var", nxt))
            self.pos += 2
        elif nxt and (nxt.isalpha() or nxt == "_"):
            end = self.pos + 1
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            self._part(("var", text[self.pos + 1: end]))
            self.pos = end
        else:
            self._literal("$")
            self.pos += 1

    def _literal(self, text: str) -> None:
        self.started = True
        self.literal.append(text)

    def _part(self, part: Part) -> None:
        self.started = True
        self._flush_literal()
        self.parts.append(part)

    def _flush_literal(self) -> None:
        if self.literal:
            self.parts.append(("lit", "".join(self.literal)))
            self.literal = []

    def _end_word(self) -> None:
        if self.started:
            self._flush_literal()
            self.tokens.append(tuple(self.parts) or (("lit", ""),))
        self.parts, self.literal, self.started, self.quoted = [], [], False, False


def _matching_paren(text: str, open_at: int) -> int:
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def compound_end(text: str, start: int) -> int:
    """Where the for/while/until/if/case command starting at ``start`` ends, or -1 (none, or unfinished)."""
    if not re.match(r"(for|while|until|if|case)(\s|;|$)", text[start: start + 6]):
        return -1
    for _, _, end, depth in compound_words(text, start):
        if depth == 0:
            return end
    return -1


def compound_words(text: str, start: int) -> Iterator[tuple[str, int, int, int]]:
    """(keyword, start, end, depth after it) for the reserved words at command position, in one pass.

    Depth counts the open for/while/until/if/case; the scan stops when the first one closes, or
    when nesting is absurd (a hostile line must not cost more than one linear pass).
    """
    stack: list[str] = []
    previous: str | None = None
    for found in _COMPOUND_WORD.finditer(text, start):
        word = found.group()
        if previous in _KEYWORD_BEFORE:
            if word in _CLOSERS:
                stack.append(_CLOSERS[word])
                if len(stack) > 16:
                    return
                yield word, found.start(), found.end(), len(stack)
            elif stack and word == stack[-1]:
                stack.pop()
                yield word, found.start(), found.end(), len(stack)
                if not stack:
                    return
            elif word in _RESERVED:
                yield word, found.start(), found.end(), len(stack)
        previous = word if word in _KEYWORD_BEFORE else "word"
