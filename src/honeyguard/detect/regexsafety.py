"""Refuse rule regexes whose backtracking can explode on attacker input.

Hyperscan runs in time linear in the input whatever the pattern; Python's ``re`` (the
fallback, and the confirmation of prefilter-mode patterns) backtracks. Exponential blow-up needs
ambiguity inside an unbounded repeat, so a pattern is refused when:

* a repeat contains a repeat and either of them is unbounded: ``(a+)+``, ``(\\w+\\s?)*``,
  ``(a{1,3})+``, ``(a*){2}``;
* an unbounded repeat holds an alternation whose branches can start with the same byte:
  ``(a|ab)+``, ``(?:\\.\\./|\\.\\.\\\\)+`` (write ``(?:\\.\\.[/\\\\])+``);
* two unbounded repeats stand side by side and can match the same bytes: ``.*\\s+``,
  ``(\\.\\./){2,}[^,]*`` (polynomial, but with n in the tens of thousands that is minutes);
* it uses a back-reference (``\\1``, ``(?P=x)``) or a conditional group;
* it can match the empty string (it would match every request).

What remains can still backtrack polynomially (``a.*b.*c``); the input of each field is cut
to ``fields.FIELD_LIMITS`` so that worst case stays bounded.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The parser behind ``re`` (private but stable since 3.11): the tree it builds is what we inspect.
C: Any = importlib.import_module("re._constants")
sre: Any = importlib.import_module("re._parser")

_ALL = frozenset(range(256))
_DIGIT = frozenset(range(0x30, 0x3A))
_WORD = frozenset([*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B), 0x5F])
_SPACE = frozenset(b" \t\n\r\f\v")
_CATEGORIES = {
    C.CATEGORY_DIGIT: _DIGIT, C.CATEGORY_NOT_DIGIT: _ALL - _DIGIT,
    C.CATEGORY_WORD: _WORD, C.CATEGORY_NOT_WORD: _ALL - _WORD,
    C.CATEGORY_SPACE: _SPACE, C.CATEGORY_NOT_SPACE: _ALL - _SPACE,
}
_ZERO_WIDTH = {C.AT, C.ASSERT, C.ASSERT_NOT}


class UnsafeRegex(ValueError):
    """The regex is refused; the message says why."""


def check_regex(pattern: bytes, flags: int) -> re.Pattern[bytes]:
    """Compile ``pattern`` (bytes) for ``re``; raise UnsafeRegex when it is invalid or risky."""
    try:
        compiled = re.compile(pattern, flags)
        parsed = sre.parse(pattern, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UnsafeRegex(f"invalid regex: {exc}") from None
    caseless = bool(compiled.flags & re.IGNORECASE)
    _walk(list(parsed), caseless, inside_repeat=None)
    if compiled.search(b"") is not None:
        raise UnsafeRegex("the regex matches the empty string, so it would match every request")
    return compiled


def _walk(items: list[tuple[Any, Any]], caseless: bool, inside_repeat: tuple[int, int] | None) -> None:
    _check_adjacent(items, caseless)
    for op, arg in items:
        if op in (C.GROUPREF, C.GROUPREF_EXISTS):
            raise UnsafeRegex("back-references and conditional groups are not allowed")
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = arg
            repeats = high > 1
            if repeats and inside_repeat is not None and (high == C.MAXREPEAT or inside_repeat[1] == C.MAXREPEAT):
                raise UnsafeRegex("nested quantifiers (like (a+)+) can backtrack exponentially")
            if high == C.MAXREPEAT:
                _check_branches(list(body), caseless)
            _walk(list(body), caseless, (low, high) if repeats else inside_repeat)
        elif op == C.SUBPATTERN:
            _walk(list(arg[-1]), caseless, inside_repeat)
        elif op == C.BRANCH:
            for branch in arg[1]:
                _walk(list(branch), caseless, inside_repeat)
        elif op in (C.ASSERT, C.ASSERT_NOT, C.ATOMIC_GROUP):
            body = arg[1] if op != C.ATOMIC_GROUP else arg
            _walk(list(body), caseless, inside_repeat)


def _check_adjacent(items: list[tuple[Any, Any]], caseless: bool) -> None:
    """Two unbounded repeats side by side that can match the same bytes (``(\\.\\./)+[^,]*``,
    ``.*\\s+``) split a run of input in O(n) ways at every start: polynomial backtracking."""
    previous: frozenset[int] | None = None
    for op, arg in items:
        if op in _ZERO_WIDTH:
            continue
        if op in (C.MAX_REPEAT, C.MIN_REPEAT) and arg[1] == C.MAXREPEAT:
            first = _first_bytes(list(arg[2]), caseless)
            if previous is not None and previous & first:
                raise UnsafeRegex("two unbounded repeats side by side match the same characters (like .*\\s+ "
                                  "or (a/)+[^,]*) and backtrack polynomially; bound one, e.g. {0,200}")
            previous = _body_bytes(list(arg[2]), caseless)
        else:
            previous = None


def _body_bytes(items: list[tuple[Any, Any]], caseless: bool) -> frozenset[int]:
    """Every byte any position of a match of the sequence can hold."""
    out: set[int] = set()
    for op, arg in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            out |= _body_bytes(list(arg[2]), caseless)
        elif op == C.SUBPATTERN:
            out |= _body_bytes(list(arg[-1]), caseless)
        elif op == C.ATOMIC_GROUP:
            out |= _body_bytes(list(arg), caseless)
        elif op == C.BRANCH:
            for branch in arg[1]:
                out |= _body_bytes(list(branch), caseless)
        elif op not in _ZERO_WIDTH:
            out |= _item_first(op, arg, caseless)[0]
    return frozenset(out)


def _check_branches(items: list[tuple[Any, Any]], caseless: bool) -> None:
    """Inside an unbounded repeat, alternatives must not start with the same byte."""
    for op, arg in items:
        if op == C.SUBPATTERN:
            _check_branches(list(arg[-1]), caseless)
        elif op == C.BRANCH:
            seen: set[int] = set()
            for branch in arg[1]:
                first = _first_bytes(list(branch), caseless)
                if seen & first:
                    raise UnsafeRegex("alternatives inside a repeat overlap (like (a|ab)+) and can "
                                      "backtrack exponentially; make each start with a different character")
                seen |= first
                _check_branches(list(branch), caseless)


def _first_bytes(items: list[tuple[Any, Any]], caseless: bool) -> frozenset[int]:
    """Every byte a match of the sequence can start with (all bytes when it can be empty)."""
    first: set[int] = set()
    for op, arg in items:
        if op in _ZERO_WIDTH:
            continue
        step, nullable = _item_first(op, arg, caseless)
        first |= step
        if not nullable:
            return frozenset(first)
    return _ALL


def _item_first(op: Any, arg: Any, caseless: bool) -> tuple[frozenset[int], bool]:
    if op == C.LITERAL:
        return _fold(frozenset([arg]), caseless), False
    if op == C.NOT_LITERAL:
        return _ALL - _fold(frozenset([arg]), caseless), False
    if op == C.ANY:
        return _ALL, False
    if op == C.IN:
        return _fold(_class_bytes(arg), caseless), False
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, body = arg
        inner = _first_bytes(list(body), caseless)
        return inner, low == 0 or inner == _ALL
    if op == C.SUBPATTERN:
        inner = _first_bytes(list(arg[-1]), caseless)
        return inner, inner == _ALL
    if op == C.ATOMIC_GROUP:
        inner = _first_bytes(list(arg), caseless)
        return inner, inner == _ALL
    if op == C.BRANCH:
        union: set[int] = set()
        for branch in arg[1]:
            union |= _first_bytes(list(branch), caseless)
        return frozenset(union), frozenset(union) == _ALL
    return _ALL, True


def _class_bytes(items: list[tuple[Any, Any]]) -> frozenset[int]:
    out: set[int] = set()
    negate = False
    for op, arg in items:
        if op == C.NEGATE:
            negate = True
        elif op == C.LITERAL:
            out.add(arg)
        elif op == C.RANGE:
            out.update(range(arg[0], min(arg[1], 255) + 1))
        elif op == C.CATEGORY:
            out |= _CATEGORIES.get(arg, _ALL)
        else:
            out |= _ALL
    return _ALL - out if negate else frozenset(out)


def _fold(chars: frozenset[int], caseless: bool) -> frozenset[int]:
    if not caseless:
        return chars
    extra = {c ^ 0x20 for c in chars if 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A}
    return chars | extra
