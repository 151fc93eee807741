"""The public face of detection: a loaded Ruleset, an Engine that matches subjects, a Match."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from honeyguard.detect.compile import HYPERSCAN_AVAILABLE, HyperscanMatcher, Program, ReMatcher, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.prefilter import Prefilter, clauses
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
        # and a rule without 'not' holds when each of a few clauses (sets of atoms) has a hit:
        # a loop over them is cheaper than walking the tree (None: walk it)
        self._clauses = [None if _has_not(tree) else clauses(tree) for tree in self._program.trees]
        # one scan of the whole request first, then only the fields of the rules still possible
        self._prefilter = Prefilter(self._program) if use_hyperscan else None

    def matching_rules(self, subject: Subject) -> list[int]:
        """Indexes (into ruleset.rules) of the rules the subject satisfies."""
        if self._prefilter is not None and subject.protocol == "http":
            return self._prefiltered(subject, self._prefilter)
        hits = self._matcher.hits(subject.protocol, subject.fields)
        if not hits:
            return []
        atom_rules = self._program.atom_rules
        candidates: set[int] = set()
        for atom_id in hits:
            candidates.update(atom_rules[atom_id])
        trees, simple = self._program.trees, self._simple
        return sorted(index for index in candidates if index in simple or holds(trees[index], hits))

    def _prefiltered(self, subject: Subject, prefilter: Prefilter) -> list[int]:
        candidates = prefilter.candidates(subject.prefilter_view())
        if not candidates.rules:
            return []
        fields = {name: subject.field(name) for name in candidates.fields}
        hits = self._matcher.hits("http", fields)
        if not hits:
            return []
        return self._holding(candidates.rules, hits)

    def _holding(self, rules: list[int], hits: set[int]) -> list[int]:
        """Those of ``rules`` whose condition holds with these atom hits."""
        out: list[int] = []
        trees, all_clauses = self._program.trees, self._clauses
        for rule in rules:
            found = all_clauses[rule]
            if found is None:
                if holds(trees[rule], hits):
                    out.append(rule)
                continue
            for clause in found:
                if hits.isdisjoint(clause):
                    break
            else:
                out.append(rule)
        return out

    def match_many(self, subjects: Sequence[Subject]) -> list[Match]:
        """``match`` for each subject, stage by stage over the whole batch: each Hyperscan
        database is scanned for every request that needs it in a row, while it is in the CPU's
        caches (the databases of a full rule set are megabytes; one request at a time, each
        scan starts cold)."""
        prefilter = self._prefilter
        if prefilter is None:
            return [self.match(subject) for subject in subjects]
        results = [NO_MATCH] * len(subjects)
        http = [i for i, subject in enumerate(subjects) if subject.protocol == "http"]
        for i, subject in enumerate(subjects):
            if subject.protocol != "http":
                results[i] = self.match(subject)
        candidates = {i: prefilter.candidates(subjects[i].prefilter_view()) for i in http}
        wanted: dict[str, list[int]] = {}
        for i, found in candidates.items():
            for name in found.fields:
                wanted.setdefault(name, []).append(i)
        hits: dict[int, set[int]] = {i: set() for i in http}
        matcher = self._matcher
        assert isinstance(matcher, HyperscanMatcher)
        for name, indexes in wanted.items():
            for i in indexes:
                matcher.field_hits("http", name, subjects[i].field(name), hits[i])
        for i, found in candidates.items():
            hit = hits[i]
            if hit:
                results[i] = self._labelled(self._holding(found.rules, hit))
        return results

    def match(self, subject: Subject) -> Match:
        return self._labelled(self.matching_rules(subject))

    def _labelled(self, indexes: list[int]) -> Match:
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


def _has_not(tree: tuple[Any, ...]) -> bool:
    if tree[0] == "leaf":
        return False
    if tree[0] == "not":
        return True
    return any(_has_not(child) for child in tree[1])


def _only_any(tree: tuple[object, ...]) -> bool:
    if tree[0] == "leaf":
        return True
    children = tree[1]
    return tree[0] == "any" and isinstance(children, tuple) and all(_only_any(c) for c in children)
