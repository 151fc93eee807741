"""Necessary factors: literals that any hit of an atom must contain (the prefilter's input).

For an atom (one pattern of a leaf) this finds a *requirement*: a few clauses, each a set of
factors one of which occurs in the field text whenever the atom hits. A factor is a lower-cased
literal, either anywhere in the request or, for a ``header.<name>`` field, on that header's line.
Regexes are walked through their parse tree (as RE2's prefilter does): literal runs, small
character classes and alternations become sets of strings; what cannot be bounded (``\\d+``,
``.*``) breaks a run. Which bytes a factor may hold depends on the field: see prefilter.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from honeyguard.detect.compile import cache_dir
from honeyguard.detect.rules import Atom, regex_flags

_parser: Any = getattr(re, "_parser", None)  # the regex parser of the re module (3.11+)
if _parser is None:  # pragma: no cover - older Python
    import sre_parse as _parser

Factor = tuple[str, bytes]  # (where: "" anywhere, "^" at a line start, else a header's line; lower-cased literal)
LINE_START = "^"  # the method: it starts the request (and each decoded copy of it in the view)
#: The start of the target: after the method and its spaces on the request line (a header line
#: has a ':' before its first space). ' http://' anywhere is in every Referer; here it is a proxy probe.
TARGET_START = "^target"
_TARGET_MARK = 0x0A  # stands for the target's start while a regex is walked: no target holds '\n'
Clause = frozenset[Factor]  # one of these occurs
Requirement = tuple[Clause, ...] | None  # every clause holds; None: no guarantee at all

#: Fields are cut and joined at these bytes, so a factor of that field never holds them:
#: path segments at '/'; '+' is a space in query and body, the body's decoded form follows a
#: newline; header values are joined by newlines, folds by spaces; 'Name: value' is rebuilt.
#: Method, target, url and raw are the request's bytes through local decoders only.
#: (Keeping spaces for query and body would need a '+'-as-space copy in the view: tried, it changed
#: the factors of 5 of ~450 atoms and no request's candidates, and lengthened the view.)
_LINE_JOINS = frozenset(b" \t\r\n")
BANNED: dict[str, frozenset[int]] = {
    "method": frozenset(), "target": frozenset(), "url": frozenset(), "raw": frozenset(),
    "path": frozenset(b"/"), "query": frozenset(b" \n"), "body": frozenset(b" \n"),
    "header.*": _LINE_JOINS, "headers": _LINE_JOINS | frozenset(b":"), "request": _LINE_JOINS | frozenset(b":"),
}
NEVER: tuple[Clause, ...] = (frozenset(),)  # fields HTTP never has (command, username...)
MAX_EXACT = 64  # strings an exact set may hold before it is given up
MAX_CLAUSES = 3
STRONG = 2.5  # a clause weighing less is dropped from a conjunction that has a stronger one
#: A list of alternatives (xmrig|miner|kinsing|...) narrows a rule down even when its shortest word
#: is short: past the first clause of an atom, it is kept from this weight (three letters) on.
KEYWORD_LIST = (4, 1.75)
#: Strings nearly every request holds: a factor made of one of them rules out little.
_COMMON = frozenset({
    b"get", b"post", b"get ", b"post ", b"head ", b"http", b"host", b"user-agent", b"accept", b"content-type",
    b"content-length", b"connection", b"mozilla", b"accept-encoding", b"accept-language", b"http://", b"https://",
    # words of ordinary headers (User-Agent, Accept, Content-Type)
    b"agent", b"application", b"content", b"windows", b"client", b"default", b"image", b"text", b"html",
    b"json", b"xml", b"encoding", b"language", b"gzip", b"deflate", b"keep-alive", b"close", b"cache",
    b"charset", b"utf-8", b"linux", b"chrome", b"safari", b"gecko", b"firefox", b"applewebkit", b"khtml",
    b"like", b"compatible", b"win64", b"x64", b"en-us", b"cookie", b"referer", b"origin",
})
_COMMON_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789=&.-_,;:?/ ")

Strings = frozenset[bytes]
_Info = tuple[Strings | None, list[Strings]]  # (the exact strings matched, or None; necessary sets)
_NOTHING: _Info = (None, [])
_EMPTY: _Info = (frozenset({b""}), [])


def weight(literal: bytes) -> float:
    """How rarely ordinary requests hold ``literal``: longer is rarer, common words and bytes less so."""
    if literal in _COMMON:
        return 0.5
    return sum(0.6 if byte in _COMMON_BYTES else 1.0 for byte in literal)


def clause_weight(clause: Clause) -> float:
    """A clause is as rare as its commonest factor; one bound to a line is rarer than one anywhere."""
    return min((weight(lit) + (1.0 if zone in (LINE_START, TARGET_START) else 2.0 if zone else 0.0)
                for zone, lit in clause), default=99.0)


ANALYSIS_VERSION = b"factors-5"  # bump when the analysis changes: cached results are keyed by it


def requirements(atoms: Sequence[Atom]) -> list[Requirement]:
    """``requirement`` of each atom, kept on disk beside the compiled databases: walking some
    two thousand regexes costs a few tenths of a second at every start."""
    digest = hashlib.sha256(repr((ANALYSIS_VERSION, [(a.field, a.op, a.value, a.case) for a in atoms])).encode())
    path = cache_dir() / f"{digest.hexdigest()}.factors"
    try:
        stored = msgspec.msgpack.decode(path.read_bytes(), type=list[list[list[tuple[str, bytes]]] | None])
        if len(stored) == len(atoms):
            return [None if need is None else tuple(frozenset(clause) for clause in need) for need in stored]
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        pass
    found = [requirement(atom) for atom in atoms]
    blob = msgspec.msgpack.encode([None if need is None else [sorted(clause) for clause in need] for need in found])
    with contextlib.suppress(OSError):  # best effort, as for the databases
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(blob)
        temporary.replace(path)
    return found


def requirement(atom: Atom) -> Requirement:
    """What every hit of ``atom`` on an HTTP request needs, or None."""
    named = atom.field.startswith("header.") and atom.field != "header.*"
    zone = atom.field[7:] if named else (LINE_START if atom.field == "method" else "")
    banned = _LINE_JOINS if named else BANNED.get(atom.field)
    if banned is None:
        return NEVER
    sets = _literal_sets(atom, banned) if atom.op != "regex" else _regex_sets(atom, banned)
    usable = sorted((s for s in sets if s and b"" not in s), key=_set_weight, reverse=True)
    # more clauses narrow the rule down, but each factor costs the scan a little: only rare ones
    chosen = usable[:1] + [s for s in usable[1:MAX_CLAUSES] if _secondary(s)]
    if zone == LINE_START:
        return tuple(frozenset((zone, lit) for lit in s) for s in chosen) or None
    if zone:  # on the header's own line; with nothing else known, the header's presence
        return tuple(frozenset((zone, lit) for lit in s) for s in chosen) or (frozenset({(zone, b"")}),)
    if atom.field == "target":
        return tuple(_target_clause(s) for s in chosen) or None
    return tuple(frozenset(("", lit) for lit in s) for s in chosen) or None


def _target_clause(strings: Strings) -> Clause:
    """Strings that all start at the target's start are bound to it; others are found anywhere
    (where the mark stood, the request line has the space before the target)."""
    mark = bytes([_TARGET_MARK])
    if all(s[:1] == mark and len(s) > 1 for s in strings):
        return frozenset((TARGET_START, s[1:]) for s in strings)
    return frozenset(("", b" " + s[1:] if s[:1] == mark else s) for s in strings)


def _secondary(strings: Strings) -> bool:
    """Whether a clause past an atom's strongest is worth its factors' scan."""
    weakest = _set_weight(strings)
    return weakest >= STRONG or (len(strings) >= KEYWORD_LIST[0] and weakest >= KEYWORD_LIST[1])


def _set_weight(strings: Strings) -> float:
    return min(weight(s) for s in strings)


def _literal_sets(atom: Atom, banned: frozenset[int]) -> list[Strings]:
    value = atom.value.lower()
    if atom.field == "method" and atom.op == "equals":
        value += b" "  # the method is followed by a space in the request line
    if atom.field == "target" and atom.op in ("equals", "startswith"):
        value = bytes([_TARGET_MARK]) + value  # and the target follows one
    return [frozenset({piece}) for piece in _pieces(value, banned)]


def _regex_sets(atom: Atom, banned: frozenset[int]) -> list[Strings]:
    try:
        items = list(_parser.parse(atom.value, regex_flags(atom.case)))
    except re.error:  # pragma: no cover - rules loading already compiled it
        return []
    if atom.field == "target" and items and str(items[0][0]) == "AT" and str(items[0][1]) in (
            "AT_BEGINNING", "AT_BEGINNING_STRING"):
        items = [(_parser.LITERAL, _TARGET_MARK), *items[1:]]  # a target starts after the request line's space
    exact, sets = _sequence(items, banned)
    return sets + ([exact] if exact is not None else [])


def _pieces(value: bytes, banned: frozenset[int]) -> list[bytes]:
    out, start = [], 0
    for index, byte in enumerate(value):
        if byte in banned:
            out.append(value[start:index])
            start = index + 1
    out.append(value[start:])
    return [p for p in out if p]


def _best(candidates: list[Strings]) -> Strings | None:
    usable = [c for c in candidates if c and b"" not in c]
    return max(usable, key=lambda c: (_set_weight(c), -len(c))) if usable else None


def _sequence(items: list[Any], banned: frozenset[int]) -> _Info:
    run: Strings = frozenset({b""})
    necessary: list[Strings] = []
    all_exact = True
    for op, av in items:
        exact, sets = _item(op, av, banned)
        necessary += sets
        if exact is not None and len(run) * len(exact) <= MAX_EXACT:
            run = frozenset(a + b for a in run for b in exact)
            continue
        all_exact = False
        necessary.append(run)
        run = exact if exact is not None and len(exact) <= MAX_EXACT else frozenset({b""})
    if not all_exact:
        necessary.append(run)
    return (run if all_exact else None), [s for s in necessary if s and b"" not in s]


def _item(op: Any, av: Any, banned: frozenset[int]) -> _Info:
    name = str(op)
    if name == "LITERAL":
        return _NOTHING if av in banned or av > 255 else (frozenset({bytes([av]).lower()}), [])
    if name == "IN":
        return _char_class(av, banned)
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return _EMPTY  # zero width: adds nothing to a run
    if name == "SUBPATTERN":
        return _sequence(list(av[-1]), banned)
    if name == "ATOMIC_GROUP":
        return _sequence(list(av), banned)
    if name == "BRANCH":
        return _branch(av[1], banned)
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, inner = av
        exact, sets = _sequence(list(inner), banned)
        if low == 0 and high == 1 and exact is not None:  # x? is exactly x or nothing
            return exact | {b""}, []
        if low < 1:
            return _NOTHING
        if low == high == 1:
            return exact, sets
        return None, sets + ([exact] if exact is not None else [])
    return _NOTHING


def _char_class(items: Any, banned: frozenset[int]) -> _Info:
    chars: set[bytes] = set()
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            values = [av]
        elif name == "RANGE" and av[1] - av[0] < 8:
            values = list(range(av[0], av[1] + 1))
        else:
            return _NOTHING
        for value in values:
            if value in banned or value > 255:
                return _NOTHING
            chars.add(bytes([value]).lower())
    return (frozenset(chars), []) if 0 < len(chars) <= 4 else _NOTHING


def _branch(alternatives: Any, banned: frozenset[int]) -> _Info:
    """Each alternative's best set, united: one of them occurs whichever alternative matched."""
    exacts: set[bytes] = set()
    union: set[bytes] = set()
    all_exact, all_bounded = True, True
    for alternative in alternatives:
        exact, sets = _sequence(list(alternative), banned)
        if exact is None:
            all_exact = False
        else:
            exacts |= exact
        best = _best(sets + ([exact] if exact is not None else []))
        if best is None:
            all_bounded = False
        else:
            union |= best
    exact_set = frozenset(exacts) if all_exact and len(exacts) <= MAX_EXACT else None
    return exact_set, ([frozenset(union)] if all_bounded and exact_set is None else [])
