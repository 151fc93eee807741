"""The public face of detection: a loaded Ruleset, an Engine that matches subjects, a Match."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import msgspec

from honeyguard.detect.compile import HYPERSCAN_AVAILABLE, HyperscanMatcher, Program, ReMatcher, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.rules import BUILTIN_RULES, Rule, discover, load_rule_files
from honeyguard.errors import ContentError

Backend = Literal["auto", "hyperscan", "re"]


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """What a subject matched: rule ids, and the CVEs and ATT&CK techniques they name (sorted)."""

    rules: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


NO_MATCH = Match()


class Ruleset:
    """Rules loaded, validated and flattened for matching."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.program = Program.build(self.rules)
        self.by_id = {rule.id: rule for rule in self.rules}

    @classmethod
    def load(cls, paths: Iterable[Path] | None = None, *, builtin: bool = True) -> Ruleset:
        """The built-in rules plus ``paths``; the first invalid rule raises ContentError."""
        rules, errors = load_rules(paths, builtin=builtin)
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
            raise ContentError(first.message + more, file=first.file, line=first.line, key=first.key)
        return cls(rules)

    def engine(self, backend: Backend = "auto") -> Engine:
        return Engine(self, backend)

    def __len__(self) -> int:
        return len(self.rules)


def load_rules(paths: Iterable[Path] | None = None, *, builtin: bool = True) -> tuple[list[Rule], list[ContentError]]:
    roots = ([BUILTIN_RULES] if builtin and BUILTIN_RULES.is_dir() else []) + list(paths or [])
    return load_rule_files(discover(roots))


class Engine:
    """Matches subjects against a Ruleset. Not thread-safe (one Hyperscan scratch): one per thread."""

    def __init__(self, ruleset: Ruleset, backend: Backend = "auto") -> None:
        if backend == "hyperscan" and not HYPERSCAN_AVAILABLE:
            raise ContentError("the hyperscan engine was asked for but hyperscan is not installed")
        use_hyperscan = backend == "hyperscan" or (backend == "auto" and HYPERSCAN_AVAILABLE)
        self.ruleset = ruleset
        self._program = ruleset.program
        self._matcher: HyperscanMatcher | ReMatcher = (
            HyperscanMatcher(self._program) if use_hyperscan else ReMatcher(self._program))
        self.backend: str = self._matcher.name
        self._labels = [(r.id, tuple(r.spec.cves), tuple(r.spec.techniques)) for r in ruleset.rules]
        # rules made only of 'any' and leaves hold as soon as one of their atoms hits: no tree to walk
        self._simple = frozenset(i for i, tree in enumerate(self._program.trees) if _only_any(tree))

    def matching_rules(self, subject: Subject) -> list[int]:
        """Indexes (into ruleset.rules) of the rules the subject satisfies."""
        hits = self._matcher.hits(subject.protocol, subject.fields)
        if not hits:
            return []
        atom_rules = self._program.atom_rules
        candidates: set[int] = set()
        for atom_id in hits:
            candidates.update(atom_rules[atom_id])
        trees, simple = self._program.trees, self._simple
        return sorted(index for index in candidates if index in simple or holds(trees[index], hits))

    def match(self, subject: Subject) -> Match:
        indexes = self.matching_rules(subject)
        if not indexes:
            return NO_MATCH
        ids: list[str] = []
        cves: set[str] = set()
        techniques: set[str] = set()
        for index in indexes:
            rule_id, rule_cves, rule_techniques = self._labels[index]
            ids.append(rule_id)
            cves.update(rule_cves)
            techniques.update(rule_techniques)
        return Match(rules=tuple(sorted(ids)), cves=tuple(sorted(cves)), techniques=tuple(sorted(techniques)))


def _only_any(tree: tuple[object, ...]) -> bool:
    if tree[0] == "leaf":
        return True
    children = tree[1]
    return tree[0] == "any" and isinstance(children, tuple) and all(_only_any(c) for c in children)
