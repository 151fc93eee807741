"""The public face of detection: a loaded Ruleset, an Engine that matches subjects, a Match."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from honeyguard.detect.compile import HyperscanMatcher, Program, ReMatcher, Tree, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.hsnative import NATIVE, PIP, HsLib, id_mask
from honeyguard.detect.prefilter import Candidates, Prefilter, clauses
from honeyguard.detect.rules import BUILTIN_RULES, Rule, discover, load_rule_files
from honeyguard.errors import ContentError

#: auto: the best there is; hyperscan: Hyperscan, native if built, else the pip binding;
#: hyperscan-pip: the pip binding; re: pure Python
Backend = Literal["auto", "hyperscan", "hyperscan-pip", "re"]


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
    """Matches subjects against a Ruleset. Not thread-safe (its decision tables, the pip binding's
    scratch spaces): one per thread."""

    def __init__(self, ruleset: Ruleset, backend: Backend = "auto") -> None:
        lib = _hyperscan_lib(backend)
        self.ruleset = ruleset
        self._program = ruleset.program
        self._matcher: HyperscanMatcher | ReMatcher = (
            HyperscanMatcher(self._program, lib) if lib is not None else ReMatcher(self._program)
        )
        self.backend: str = self._matcher.name
        self._labels = [(r.id, tuple(r.spec.cves), tuple(r.spec.techniques)) for r in ruleset.rules]
        # rules made only of 'any' and leaves hold as soon as one of their atoms hits: no tree to walk
        self._simple = frozenset(i for i, tree in enumerate(self._program.trees) if _only_any(tree))
        # and a rule without 'not' holds when each of a few clauses (sets of atoms) has a hit:
        # a loop over them is cheaper than walking the tree (None: walk it)
        self._clauses = [None if _has_not(tree) else clauses(tree) for tree in self._program.trees]
        # the same with the atoms as bits of an int, as stage two's scans answer
        self._bit_trees = [_bit_tree(tree) for tree in self._program.trees]
        self._bit_clauses = [None if found is None else tuple(map(id_mask, found)) for found in self._clauses]
        # one scan of the whole request first, then only the fields of the rules still possible
        self._prefilter = Prefilter(self._program, lib) if lib is not None else None
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

    def _stage_two_hits(self, subject: Subject, candidates: Candidates) -> int:
        """The atoms that hit the fields the candidate rules read, as bits."""
        plan = candidates.plan
        if plan is None:
            plan = candidates.plan = self._plan(candidates)
        if plan is _EVERY_FIELD:  # atoms that need re as well: the matcher's general path
            return id_mask(self._matcher.hits("http", {name: subject.field(name) for name in candidates.fields}))
        hits = 0
        for name, database in plan:
            text = subject.field(name)
            if text:
                hits |= database.scan(text)
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

    def _outcome(self, candidates: Candidates, hits: int) -> Match:
        # which rules hold depends on the candidates and the atoms hit alone: worked out once
        outcomes = candidates.outcomes
        found: Match | None = outcomes.get(hits)
        if found is None:
            if len(outcomes) >= MAX_OUTCOMES:
                outcomes.clear()
            if self._outcomes_kept >= MAX_OUTCOMES_KEPT:
                self._forget_outcomes()
            if not outcomes:
                self._outcome_holders.append(candidates)
            self._outcomes_kept += 1
            found = outcomes[hits] = self._labelled(self._holding(candidates.rules, hits))
        return found

    def _forget_outcomes(self) -> None:
        for holder in self._outcome_holders:
            holder.outcomes.clear()
        self._outcome_holders.clear()
        self._outcomes_kept = 0

    def _holding(self, rules: list[int], hits: int) -> list[int]:
        """Those of ``rules`` whose condition holds with these atom hits (as bits)."""
        out: list[int] = []
        trees, all_clauses = self._bit_trees, self._bit_clauses
        for rule in rules:
            found = all_clauses[rule]
            if found is None:
                if _holds_bits(trees[rule], hits):
                    out.append(rule)
                continue
            for clause in found:
                if not hits & clause:
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
        http = [subject for subject in subjects if subject.protocol == "http"]
        where: Sequence[int] = range(len(subjects))
        if len(http) != len(subjects):  # (a batch of raw HTTP bytes is all HTTP)
            where = [index for index, subject in enumerate(subjects) if subject.protocol == "http"]
            for index, subject in enumerate(subjects):
                if subject.protocol != "http":
                    results[index] = self.match(subject)
        answers = prefilter.candidates_many(http)
        if not isinstance(self._matcher, HyperscanMatcher) or not self._matcher.exact:
            for index, subject, candidates in zip(where, http, answers, strict=True):
                if candidates.rules:
                    results[index] = self._confirmed(subject, candidates)
            return results
        self._stage_two_many(zip(where, http, answers, strict=True), results)
        return results

    def _stage_two_many(self, batch: Iterable[tuple[int, Subject, Candidates]], results: list[Match]) -> None:
        """Stage two for the (index into results, subject, candidates) of a batch, field by field:
        the texts of a field built, then its database scanned for all of them in a row."""
        # requests with the same candidates read the same fields: grouped first (a batch holds
        # a few requests a candidate set), then each group's requests are added to its fields
        groups: dict[Candidates, tuple[list[Subject], list[int]]] = {}  # (identity: one object an answer)
        for index, subject, candidates in batch:
            if not candidates.rules:
                continue
            group = groups.get(candidates)
            if group is None:
                groups[candidates] = ([subject], [index])
            else:
                group[0].append(subject)
                group[1].append(index)
        by_field: dict[str, tuple[Any, list[Subject], list[int]]] = {}
        for candidates, (subjects, indexes) in groups.items():
            plan = candidates.plan
            if plan is None:
                plan = candidates.plan = self._plan(candidates)
            for name, database in plan:  # (the fields that have a database)
                wanted = by_field.get(name)  # (not setdefault: it makes a tuple on every call)
                if wanted is None:
                    by_field[name] = (database, subjects.copy(), indexes.copy())
                else:
                    wanted[1].extend(subjects)
                    wanted[2].extend(indexes)
        found_hits = [0] * len(results)
        for name, (database, wanted_subjects, wanted_indexes) in by_field.items():
            texts = [subject.field(name) for subject in wanted_subjects]
            for index, hits in zip(wanted_indexes, database.scan_many(texts), strict=True):
                if hits:
                    found_hits[index] |= hits
        for candidates, (_subjects, indexes) in groups.items():
            outcomes = candidates.outcomes  # (_outcome's table, read here: most answers are in it)
            for index in indexes:
                hits = found_hits[index]
                if hits:
                    found = outcomes.get(hits)
                    results[index] = found if found is not None else self._outcome(candidates, hits)

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


def _bit_tree(tree: Tree) -> Tree:
    """A condition tree with each leaf's atoms as the bits of an int."""
    if tree[0] == "leaf":
        return ("leaf", id_mask(tree[1]))
    if tree[0] == "not":
        return ("not", _bit_tree(tree[1]))
    return (tree[0], tuple(_bit_tree(child) for child in tree[1]))


def _holds_bits(tree: Tree, hits: int) -> bool:
    kind = tree[0]
    if kind == "leaf":
        return bool(hits & tree[1])
    if kind == "all":
        return all(_holds_bits(child, hits) for child in tree[1])
    if kind == "any":
        return any(_holds_bits(child, hits) for child in tree[1])
    return not _holds_bits(tree[1], hits)


def _hyperscan_lib(backend: Backend) -> HsLib | None:
    """The Hyperscan library ``backend`` asks for (None: the re matcher)."""
    if backend == "re":
        return None
    if backend == "hyperscan-pip":
        if PIP is None:
            raise ContentError("the hyperscan-pip engine was asked for but hyperscan is not installed")
        return PIP
    found = NATIVE or PIP
    if found is None and backend == "hyperscan":
        raise ContentError("the hyperscan engine was asked for but hyperscan is not installed")
    return found


def _only_any(tree: tuple[object, ...]) -> bool:
    if tree[0] == "leaf":
        return True
    children = tree[1]
    return tree[0] == "any" and isinstance(children, tuple) and all(_only_any(c) for c in children)
