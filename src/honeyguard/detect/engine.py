"""The public face of detection: a loaded Ruleset, an Engine that matches subjects, a Match."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from honeyguard.detect.compile import HYPERSCAN_AVAILABLE, HyperscanMatcher, Program, ReMatcher, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.prefilter import Candidates, Prefilter, clauses
from honeyguard.detect.rules import BUILTIN_RULES, Rule, discover, load_rule_files
from honeyguard.errors import ContentError

Backend = Literal["auto", "hyperscan", "re"]


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """What a subject matched: rule ids, and the CVEs and ATT&CK techniques they name (sorted)."""

    rules: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


NO_MATCH = Match()
MAX_OUTCOMES = 1024  # sets of atom hits whose outcome each candidate set keeps
#: and all candidate sets together: the prefilter keeps thousands of them, so the per-set bound
#: alone would let varied attack traffic fill gigabytes
MAX_OUTCOMES_KEPT = 65536
_EVERY_FIELD = object()  # a plan: every field through the matcher's general path


def _on_atom(atom_id: int, _start: int, _end: int, _flags: int, hits: set[int]) -> None:
    hits.add(atom_id)


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
            HyperscanMatcher(self._program) if use_hyperscan else ReMatcher(self._program)
        )
        self.backend: str = self._matcher.name
        self._labels = [(r.id, tuple(r.spec.cves), tuple(r.spec.techniques)) for r in ruleset.rules]
        # rules made only of 'any' and leaves hold as soon as one of their atoms hits: no tree to walk
        self._simple = frozenset(i for i, tree in enumerate(self._program.trees) if _only_any(tree))
        # and a rule without 'not' holds when each of a few clauses (sets of atoms) has a hit:
        # a loop over them is cheaper than walking the tree (None: walk it)
        self._clauses = [None if _has_not(tree) else clauses(tree) for tree in self._program.trees]
        # one scan of the whole request first, then only the fields of the rules still possible
        self._prefilter = Prefilter(self._program) if use_hyperscan else None
        self._outcome_holders: list[Candidates] = []  # the candidate sets keeping outcomes
        self._outcomes_kept = 0

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
        candidates = prefilter.candidates(subject.prefilter_view(False), subject.head_folded)
        if not candidates.rules:
            return []
        hits = self._stage_two_hits(subject, candidates)
        return self._holding(candidates.rules, hits) if hits else []

    def _stage_two_hits(self, subject: Subject, candidates: Candidates) -> set[int]:
        """The atoms that hit the fields the candidate rules read."""
        plan = candidates.plan
        if plan is None:
            plan = candidates.plan = self._plan(candidates)
        if plan is _EVERY_FIELD:  # atoms that need re as well: the matcher's general path
            return self._matcher.hits("http", {name: subject.field(name) for name in candidates.fields})
        hits: set[int] = set()
        for name, database in plan:
            text = subject.field(name)
            if text:
                database.scan(text, _on_atom, 0, hits)  # positional: keywords cost ~0.6 us a call
        return hits

    def _plan(self, candidates: Candidates) -> tuple[tuple[str, Any], ...] | object:
        """(field, database) to scan for these candidates, or _EVERY_FIELD."""
        matcher = self._matcher
        if not isinstance(matcher, HyperscanMatcher) or not matcher.exact:
            return _EVERY_FIELD
        found = ((name, matcher.database("http", name)) for name in sorted(candidates.fields))
        return tuple((name, database) for name, database in found if database is not None)

    def _confirmed(self, subject: Subject, candidates: Candidates) -> Match:
        """Stage two: the fields the candidates read, scanned, and the rules that hold."""
        hits = self._stage_two_hits(subject, candidates)
        return self._outcome(candidates, hits) if hits else NO_MATCH

    def _outcome(self, candidates: Candidates, hits: set[int]) -> Match:
        # which rules hold depends on the candidates and the atoms hit alone: worked out once
        key = frozenset(hits)
        outcomes = candidates.outcomes
        found: Match | None = outcomes.get(key)
        if found is None:
            if len(outcomes) >= MAX_OUTCOMES:
                outcomes.clear()
            if self._outcomes_kept >= MAX_OUTCOMES_KEPT:
                self._forget_outcomes()
            if not outcomes:
                self._outcome_holders.append(candidates)
            self._outcomes_kept += 1
            found = outcomes[key] = self._labelled(self._holding(candidates.rules, hits))
        return found

    def _forget_outcomes(self) -> None:
        for holder in self._outcome_holders:
            holder.outcomes.clear()
        self._outcome_holders.clear()
        self._outcomes_kept = 0

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
        """``match`` for each subject, stage by stage over the whole batch: the prefilter's
        database is scanned for every request in a row, while it is in the CPU's caches (the
        databases of a full rule set are megabytes; one request at a time, each scan starts cold),
        then the requests still possible go through stage two, field by field in the same way."""
        prefilter = self._prefilter
        if prefilter is None:
            return [self.match(subject) for subject in subjects]
        results = [NO_MATCH] * len(subjects)
        possible: list[tuple[int, Subject, Candidates]] = []
        candidates_for = prefilter.candidates
        for index, subject in enumerate(subjects):
            if subject.protocol != "http":
                results[index] = self.match(subject)
                continue
            candidates = candidates_for(subject.prefilter_view(False), subject.head_folded)
            if candidates.rules:
                possible.append((index, subject, candidates))
        if not isinstance(self._matcher, HyperscanMatcher) or not self._matcher.exact:
            for index, subject, candidates in possible:
                results[index] = self._confirmed(subject, candidates)
            return results
        # stage two field by field over the batch: each database scanned for every request in a row
        by_field: dict[str, list[tuple[Subject, set[int]]]] = {}
        found_hits: list[set[int]] = []
        for _index, subject, candidates in possible:
            hits: set[int] = set()
            found_hits.append(hits)
            item = (subject, hits)
            for name in candidates.fields:
                wanted = by_field.get(name)  # (not setdefault: it makes a list on every call)
                if wanted is None:
                    by_field[name] = [item]
                else:
                    wanted.append(item)
        matcher = self._matcher
        for name, wanted in by_field.items():
            database = matcher.database("http", name)
            if database is None:
                continue
            for subject, hits in wanted:
                text = subject.field(name)
                if text:
                    database.scan(text, _on_atom, 0, hits)
        for (index, _subject, candidates), hits in zip(possible, found_hits, strict=True):
            if hits:
                results[index] = self._outcome(candidates, hits)
        return results

    def match(self, subject: Subject) -> Match:
        prefilter = self._prefilter
        if prefilter is not None and subject.protocol == "http":
            candidates = prefilter.candidates(subject.prefilter_view(False), subject.head_folded)
            return self._confirmed(subject, candidates) if candidates.rules else NO_MATCH
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
