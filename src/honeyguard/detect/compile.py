"""Compile rules into per-field matchers: Hyperscan databases, or pure ``re`` as the fallback.

Every pattern of every leaf is an *atom* with an integer id. For each (protocol, field) the
Hyperscan matcher holds one database with all the atoms of that field; a scan yields the atoms
that hit (as the bits of an int, hsnative.py), and only rules owning a hit atom have their
condition tree evaluated (rules loading guarantees a tree is false when nothing hits, so this
prefilter is exact).

A regex Hyperscan cannot compile exactly is compiled in prefilter mode (a superset) and each
hit is confirmed with ``re``; one it cannot compile at all is matched with ``re`` on every
subject that has the field. The ``re`` matcher does everything with ``re`` and ``bytes``
operations, and the two agree on every rule example (a test checks it).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honeyguard.detect.fields import is_line_field
from honeyguard.detect.hsnative import (
    CASELESS,
    MULTILINE,
    PIP_AVAILABLE,
    PREFILTER,
    SINGLEMATCH,
    HsLib,
    ScanDatabase,
    mask_ids,
)
from honeyguard.detect.rules import Atom, Cond, Rule, regex_flags

HYPERSCAN_AVAILABLE = PIP_AVAILABLE  # the pip binding (iocs.gates scans with it)
SUBJECT_PROTOCOLS = {"http": ("http",), "ssh": ("ssh",), "redis": ("redis",), "any": ("http", "ssh", "redis", "other")}

Tree = tuple[Any, ...]  # ("leaf", frozenset[int]) | ("all"|"any", tuple[Tree, ...]) | ("not", Tree)


@dataclass
class Program:
    """The rules, flattened: atoms with ids, which rules own each atom, and condition trees."""

    rules: list[Rule]
    atoms: list[Atom] = field(default_factory=list)
    atom_rules: list[tuple[int, ...]] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    # protocol -> field -> atom ids
    by_field: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    unconditional: dict[str, list[int]] = field(default_factory=dict)  # protocol -> rules to always try

    @classmethod
    def build(cls, rules: list[Rule]) -> Program:
        program = cls(rules=rules)
        owners: dict[int, set[int]] = {}
        ids: dict[Atom, int] = {}
        for index, rule in enumerate(rules):
            program.trees.append(program._flatten(rule.condition, index, owners, rule.spec.protocol, ids))
        program.atom_rules = [tuple(sorted(owners.get(i, ()))) for i in range(len(program.atoms))]
        return program

    def _flatten(
        self, cond: Cond, rule_index: int, owners: dict[int, set[int]], protocol: str, ids: dict[Atom, int]
    ) -> Tree:
        if cond.kind == "leaf":
            assert cond.leaf is not None
            leaf_ids = []
            for atom in cond.leaf.atoms:
                # one id for the same pattern on the same field, whichever rules use it: a scan
                # reports it once (a match callback costs ~0.2 us; 'method: POST' is in dozens of rules)
                atom_id = ids.get(atom)
                if atom_id is None:
                    atom_id = ids[atom] = len(self.atoms)
                    self.atoms.append(atom)
                owners.setdefault(atom_id, set()).add(rule_index)
                for subject_protocol in SUBJECT_PROTOCOLS[protocol]:
                    field_ids = self.by_field.setdefault(subject_protocol, {}).setdefault(atom.field, [])
                    if atom_id not in field_ids:
                        field_ids.append(atom_id)
                leaf_ids.append(atom_id)
            return ("leaf", frozenset(leaf_ids))
        children = tuple(self._flatten(c, rule_index, owners, protocol, ids) for c in cond.children)
        return (cond.kind, children[0]) if cond.kind == "not" else (cond.kind, children)


def holds(tree: Tree, hits: set[int]) -> bool:
    kind = tree[0]
    if kind == "leaf":
        return not hits.isdisjoint(tree[1])
    if kind == "all":
        return all(holds(child, hits) for child in tree[1])
    if kind == "any":
        return any(holds(child, hits) for child in tree[1])
    return not holds(tree[1], hits)


# ---- the pure-re matcher ------------------------------------------------------------------------

AtomTest = Callable[[bytes, bytes], bool]  # (text, ASCII-lowercased text) -> hit


def atom_test(atom: Atom) -> AtomTest:
    """A Python test with exactly the semantics of the Hyperscan expression for ``atom``."""
    if atom.op == "regex":
        search = re.compile(atom.value, regex_flags(atom.case)).search
        return lambda text, _lower: search(text) is not None
    value = atom.value if atom.case else atom.value.lower()
    pick: Callable[[bytes, bytes], bytes] = (lambda t, _l: t) if atom.case else (lambda _t, lo: lo)
    if atom.op == "contains":
        return lambda text, lower: value in pick(text, lower)
    lines = is_line_field(atom.field)
    compare: Callable[[bytes], bool]
    if atom.op == "equals":
        compare = value.__eq__
    elif atom.op == "startswith":
        compare = lambda s: s.startswith(value)  # noqa: E731
    else:
        compare = lambda s: s.endswith(value)  # noqa: E731
    if lines:
        return lambda text, lower: any(compare(line) for line in pick(text, lower).split(b"\n"))
    return lambda text, lower: compare(pick(text, lower))


class ReMatcher:
    """Every atom tested in Python, field by field."""

    name = "re"

    def __init__(self, program: Program) -> None:
        self._tests = [atom_test(atom) for atom in program.atoms]
        self._by_field = {
            proto: {f: [(i, self._tests[i]) for i in ids] for f, ids in fields.items()}
            for proto, fields in program.by_field.items()
        }

    def hits(self, protocol: str, fields: dict[str, bytes]) -> set[int]:
        found: set[int] = set()
        wanted = self._by_field.get(protocol)
        if not wanted:
            return found
        for name, text in fields.items():
            tests = wanted.get(name)
            if not tests or not text:
                continue
            lower = text.lower()
            for atom_id, test in tests:
                if test(text, lower):
                    found.add(atom_id)
        return found


# ---- the Hyperscan matcher ----------------------------------------------------------------------


def hs_expression(atom: Atom) -> bytes:
    """The Hyperscan (PCRE-syntax) expression for an atom."""
    if atom.op == "regex":
        return python_regex_to_pcre(atom.value)
    literal = b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"\\x%02x" % c for c in atom.value)
    lines = is_line_field(atom.field)
    start, end = (b"^", b"$") if lines else (b"\\A", b"\\z")
    if atom.op == "equals":
        return start + b"(?:" + literal + b")" + end
    if atom.op == "startswith":
        return start + b"(?:" + literal + b")"
    if atom.op == "endswith":
        return b"(?:" + literal + b")" + end
    return literal


_PY_ONLY = re.compile(rb"\\\\|\\Z|\{,(\d+)\}")


def python_regex_to_pcre(pattern: bytes) -> bytes:
    """Python spellings PCRE reads differently: ``\\Z`` is PCRE's ``\\z``; ``{,n}`` is ``{0,n}``."""

    def swap(found: re.Match[bytes]) -> bytes:
        text = found.group(0)
        if text == b"\\\\":
            return text
        if text == b"\\Z":
            return b"\\z"
        return b"{0,%s}" % found.group(1)

    return _PY_ONLY.sub(swap, pattern)


def _flags(atom: Atom) -> int:
    flags = SINGLEMATCH | MULTILINE
    return flags if atom.case else flags | CASELESS


def _compiles(lib: HsLib, expression: bytes, flags: int) -> bool:
    try:
        lib.compile([expression], [0], [flags])
    except lib.error:
        return False
    return True


class HyperscanMatcher:
    """One Hyperscan database per (protocol, field); ``re`` only where Hyperscan cannot be exact.

    ``lib``: the library the databases are compiled and scanned with (hsnative.py); a scan answers
    with the atoms hit as the bits of an int."""

    def __init__(self, program: Program, lib: HsLib) -> None:
        self.lib = lib
        self.name = lib.name
        self._confirm: dict[int, tuple[str, AtomTest]] = {}  # prefilter-mode atoms: confirm each hit
        self._python: dict[str, dict[str, list[tuple[int, AtomTest]]]] = {}  # atoms only re can do
        self._dbs: dict[str, dict[str, ScanDatabase]] = {}
        self.python_atoms: set[int] = set()
        for protocol, fields in program.by_field.items():
            for name, ids in fields.items():
                db = self._database(program, protocol, name, ids)
                if db is not None:
                    self._dbs.setdefault(protocol, {})[name] = db

    def _database(self, program: Program, protocol: str, name: str, ids: list[int]) -> ScanDatabase | None:
        lib = self.lib
        expressions = [hs_expression(program.atoms[i]) for i in ids]
        flags = [_flags(program.atoms[i]) for i in ids]
        try:  # the common case: everything compiles together, one compile for the field
            return compile_cached(expressions, ids, flags, lib)
        except lib.error:
            pass
        kept: list[int] = []
        for index, atom_id in enumerate(ids):  # find the atoms Hyperscan cannot take as written
            atom = program.atoms[atom_id]
            if atom.op == "regex" and not _compiles(lib, expressions[index], flags[index]):
                if _compiles(lib, expressions[index], flags[index] | PREFILTER):
                    flags[index] |= PREFILTER
                    self._confirm[atom_id] = (atom.field, atom_test(atom))
                else:
                    self._python.setdefault(protocol, {}).setdefault(name, []).append((atom_id, atom_test(atom)))
                    self.python_atoms.add(atom_id)
                    continue
            kept.append(index)
        if not kept:
            return None
        return compile_cached([expressions[i] for i in kept], [ids[i] for i in kept], [flags[i] for i in kept], lib)

    @property
    def exact(self) -> bool:
        """True when the databases alone answer (no atom needs ``re`` to confirm or to match)."""
        return not self._confirm and not self._python

    def database(self, protocol: str, name: str) -> ScanDatabase | None:
        """The database of field ``name`` (None when no atom of it is in one)."""
        return self._dbs.get(protocol, {}).get(name)

    def hits(self, protocol: str, fields: dict[str, bytes]) -> set[int]:
        mask = 0
        dbs = self._dbs.get(protocol)
        if dbs:
            for name, text in fields.items():
                db = dbs.get(name)
                if db is not None and text:
                    mask |= db.scan(text)
        found = mask_ids(mask) if mask else set()
        if self._confirm and found:
            for atom_id in [a for a in found if a in self._confirm]:
                name, test = self._confirm[atom_id]
                text = fields[name]
                if not test(text, text.lower()):
                    found.discard(atom_id)
        python = self._python.get(protocol)
        if python:
            for name, tests in python.items():
                text = fields.get(name, b"")
                if text:
                    lower = text.lower()
                    found.update(atom_id for atom_id, test in tests if test(text, lower))
        return found


# Compiling the big databases takes seconds; a sensor, a CLI run and a test suite compile the
# same rules again and again. Serialized databases are kept in process and on disk, keyed by a
# digest of everything that goes into them and of the library (a database that fails to load is
# compiled again; the two libraries never read each other's).
_MEMO: dict[str, bytes] = {}
MAX_CACHED_DATABASES = 256


def cache_dir() -> Path:
    configured = os.environ.get("HONEYGUARD_CACHE_DIR")
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "honeyguard" / "hyperscan" if not configured else base


def compile_cached(expressions: list[bytes], ids: list[int], flags: list[int], lib: HsLib) -> ScanDatabase:
    digest = hashlib.sha256(repr((lib.version, expressions, ids, flags)).encode()).hexdigest()
    blob = _MEMO.get(digest) or _read_blob(digest)
    if blob is not None:
        try:
            db = lib.load(blob, max(ids))
            _MEMO[digest] = blob
            return db
        except lib.error:
            pass
    db = lib.compile(expressions, ids, flags)
    blob = lib.dump(db)
    _MEMO[digest] = blob
    _write_blob(digest, blob)
    return db


def _read_blob(digest: str) -> bytes | None:
    try:
        return (cache_dir() / f"{digest}.hsdb").read_bytes()
    except OSError:
        return None


def _write_blob(digest: str, blob: bytes) -> None:
    """Best effort: a read-only home or a full disk only costs the next start a compile."""
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{digest}.{os.getpid()}.tmp"
        temporary.write_bytes(blob)
        temporary.replace(folder / f"{digest}.hsdb")
        kept = sorted(folder.glob("*.hsdb"), key=lambda p: p.stat().st_mtime)
        for stale in kept[:-MAX_CACHED_DATABASES]:  # rules change: old databases go
            stale.unlink(missing_ok=True)
    except OSError:
        pass
