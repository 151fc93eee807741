"""A one-scan prefilter for HTTP: which rules *could* match, before any field is built.

Building the normalised fields of a request and scanning each field's database costs tens of
microseconds in Python; most requests match few rules or none. So every atom gets a set of
*necessary factors*: literal byte strings such that the atom can only hit a field if one of them
occurs in that field (a literal's longest clean piece; for a regex, found by walking its parse
tree, as RE2's prefilter does). One caseless Hyperscan scan of the *view* (the raw request,
plus its decoded forms when it carries escapes) then tells which factors occur; a rule whose
condition tree cannot hold with those factors is skipped, and only the fields the remaining
rules read are built and scanned.

This is exact, not a heuristic, because every factor that occurs in a field also occurs in the
view. Fields are pieces of the request put through transformations that are local (percent
escapes, overlong UTF-8, JSON escapes, HTML entities: the view holds the whole request through
the same decoders) or that only cut and join at separators (path segments on '/', header lines
and folds on line ends and spaces, ``Name: value`` on ':'). Factors therefore never contain
those separators, and a request whose decoded form holds a Log4j lookup (``${``, which can
rewrite text arbitrarily) or that is too long skips the prefilter: every rule is a candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from honeyguard.detect.compile import Program, Tree, compile_cached
from honeyguard.detect.factors import (
    LINE_START,
    STRONG,
    TARGET_START,
    Clause,
    Factor,
    Requirement,
    clause_weight,
    requirements,
    weight,
)
from honeyguard.detect.fields import Subject, field_protocols
from honeyguard.detect.hsnative import (
    CASELESS,
    MULTILINE,
    NATIVE,
    PIP,
    SINGLEMATCH,
    HsLib,
    ScanDatabase,
    mask_ids,
)

WORTH_CHECKING = 1.0  # lighter clauses (words of ordinary headers) are left unchecked
MAX_VIEW = 1 << 20  # longer requests skip the prefilter (the view would be as costly as the fields)


_TRUE: Tree = ("true",)


class _Numbering:
    """Factor ids, in order of first use."""

    def __init__(self) -> None:
        self.ids: dict[Factor, int] = {}
        self.factors: list[Factor] = []

    def weight(self, ids: frozenset[int]) -> float:
        return clause_weight(frozenset(self.factors[i] for i in ids))

    def clause(self, clause: Clause) -> frozenset[int]:
        out = []
        for factor in sorted(clause):  # the same ids in every process: the database is cached by them
            found = self.ids.get(factor)
            if found is None:
                found = self.ids[factor] = len(self.factors)
                self.factors.append(factor)
            out.append(found)
        return frozenset(out)


def upper_tree(tree: Tree, needs: dict[int, Requirement], numbering: _Numbering) -> Tree:
    """``tree`` over factor ids: true whenever the real tree could be (``not`` is always true)."""
    kind = tree[0]
    if kind == "leaf":
        atoms: list[Tree] = []
        for atom_id in sorted(tree[1]):
            need = needs[atom_id]
            if need is None:
                return _TRUE
            leaves = tuple(("leaf", numbering.clause(clause)) for clause in need if clause)
            if not leaves:  # a field HTTP never has: this atom cannot hit
                continue
            atoms.append(leaves[0] if len(leaves) == 1 else ("all", leaves))
        return _simplify("any", atoms, numbering) if atoms else ("leaf", frozenset())
    if kind == "not":
        return _TRUE
    return _simplify(kind, [upper_tree(child, needs, numbering) for child in tree[1]], numbering)


def _simplify(kind: str, children: list[Tree], numbering: _Numbering) -> Tree:
    if kind == "all":
        kept = [c for c in children if c != _TRUE]
        # a weak leaf ('get', 'host') beside a stronger child rules out little: drop it (the
        # tree only gets weaker, so stays an upper bound) and save its factors' scan
        strong = [c for c in kept if _strength(c, numbering) >= STRONG]
        if strong and len(strong) < len(kept):
            kept = strong
        return kept[0] if len(kept) == 1 else (("all", tuple(kept)) if kept else _TRUE)
    if any(c == _TRUE for c in children):
        return _TRUE
    leaves = [c for c in children if c[0] == "leaf"]
    if len(leaves) == len(children) and leaves:  # any of leaves: one leaf with every factor
        return ("leaf", frozenset().union(*(leaf[1] for leaf in leaves)))
    return children[0] if len(children) == 1 else ("any", tuple(children))


def _strength(tree: Tree, numbering: _Numbering) -> float:
    """How rarely ``tree`` holds: an 'all' as rarely as its rarest child, an 'any' as its commonest."""
    if tree[0] == "leaf":
        return numbering.weight(tree[1])
    if tree[0] == "true":
        return 0.0
    strengths = [_strength(child, numbering) for child in tree[1]]
    return max(strengths) if tree[0] == "all" else min(strengths)


def possible(tree: Tree, hits: set[int]) -> bool:
    kind = tree[0]
    if kind == "leaf":
        return not hits.isdisjoint(tree[1])
    if kind == "true":
        return True
    if kind == "all":
        return all(possible(child, hits) for child in tree[1])
    return any(possible(child, hits) for child in tree[1])


MAX_CNF = 16  # clauses an upper tree may grow to in conjunctive form before it is kept a tree


def clauses(tree: Tree) -> list[frozenset[int]] | None:
    """An upper tree as clauses (it holds when every clause meets the hits), or None when that
    takes more than MAX_CNF clauses. A leaf holds when one of its factors occurs, so an 'any' of
    clause lists is each choice of one clause per child, united (checking clauses in a loop is
    several times cheaper than walking the tree for every request that reaches it)."""
    if tree[0] == "leaf":
        return [tree[1]]
    found = [clauses(child) for child in tree[1]]
    if any(child is None for child in found):
        return None
    if tree[0] == "all":
        out = [clause for child in found for clause in child or ()]
    else:
        out = [frozenset()]
        for child in found:
            out = [a | b for a in out for b in child or ()]
            if len(out) > MAX_CNF:
                return None
    return _minimal(out) if len(out) <= MAX_CNF else None


def _minimal(found: list[frozenset[int]]) -> list[frozenset[int]]:
    """The clauses without repeats and without those a smaller one implies (a superset)."""
    unique = sorted(set(found), key=lambda c: (len(c), sorted(c)))
    return [c for i, c in enumerate(unique) if not any(other < c for other in unique[:i])]


def _leaf_factors(tree: Tree) -> set[int]:
    if tree[0] == "leaf":
        return set(tree[1])
    if tree[0] == "true":
        return set()
    return set().union(*(_leaf_factors(child) for child in tree[1]))


def _renumber(tree: Tree, mapping: dict[int, int]) -> Tree:
    if tree[0] == "leaf":
        return ("leaf", frozenset(mapping[f] for f in tree[1]))
    if tree[0] == "true":
        return tree
    return (tree[0], tuple(_renumber(child, mapping) for child in tree[1]))


def tree_fields(tree: Tree, program: Program) -> frozenset[str]:
    if tree[0] == "leaf":
        return frozenset(program.atoms[a].field for a in tree[1])
    if tree[0] == "not":
        return tree_fields(tree[1], program)
    return frozenset().union(*(tree_fields(child, program) for child in tree[1]))


@dataclass(eq=False)  # one object a distinct answer (shared): compared and hashed by identity
class Candidates:
    """Stage one's answer: the rules that could match, and the fields they read.

    The engine keeps beside it how to scan those fields (``plan``) and, for each set of atoms hit
    there, which of the rules hold (``outcomes``): both depend on nothing else."""

    rules: list[int]
    fields: frozenset[str]
    plan: Any = None
    outcomes: dict[int, Any] = field(default_factory=dict)  # keyed by the atoms hit, as bits


NO_CANDIDATES = Candidates([], frozenset())
FOLD_EXPRESSION = b"\\n[ \\t]"  # a header line folded onto the one before (when in the head)
#: a header's factor at least this rare (factors.weight: ~5 ordinary bytes) is scanned for anywhere,
#: a superset: the header-bound expressions ('Name:', anything on the line, the literal) cost
#: Hyperscan a third of the prefilter's scan, and such a literal is rarely elsewhere
LOOSE_HEADER_WEIGHT = 5.0
MAX_ANSWERS = 4096  # distinct candidate sets kept (answers are shared: callers only read them)
MAX_DECIDED = 16384  # distinct sets of factors whose answer is kept


def factor_expression(factor: Factor) -> bytes:
    """Hyperscan syntax: the literal anywhere, at the request line's start or its target's, or
    after the named header's ``Name:`` on the same line."""
    zone, literal = factor
    escaped = b"".join(b"\\x%02x" % c for c in literal)
    if not zone:
        return escaped
    if zone == LINE_START:  # the method: at the start of the request line
        return b"^" + escaped
    if zone == TARGET_START:  # after a method (token bytes, no ':') and its spaces
        return b"^[A-Za-z][\\x21\\x23\\x24\\x26\\x27\\x2a\\x2b\\x2d\\x2e0-9A-Z\\x5e-\\x7a\\x7c\\x7e]{0,31} +" + escaped
    if weight(literal) >= LOOSE_HEADER_WEIGHT:
        return escaped  # anywhere, a superset
    # after the header's name and its colon on one line: not anchored at the line's start (a
    # superset, so still exact), which Hyperscan scans in a third less time than '^\\s*name\\s*:'
    name = b"".join(b"\\x%02x" % c for c in zone.encode())
    return name + b"[ \\t\\r\\x0b\\x0c]*:[^\\n]*" + escaped


class Prefilter:
    """The stage-one database of every HTTP rule's factors (Hyperscan only): one caseless scan
    of the view, then each rule's upper tree over the factors that occur."""

    def __init__(self, program: Program, lib: HsLib | None = None, protocol: str = "http") -> None:
        found = lib or NATIVE or PIP  # (default: the best library there is)
        assert found is not None
        self._lib = found
        by_field = program.by_field.get(protocol, {})
        atom_ids = sorted({a for ids in by_field.values() for a in ids})
        needs = dict(zip(atom_ids, requirements([program.atoms[a] for a in atom_ids]), strict=True))
        rule_ids = sorted({r for a in atom_ids for r in program.atom_rules[a]})
        numbering = _Numbering()
        uppers = {r: upper_tree(program.trees[r], needs, numbering) for r in rule_ids}
        # simplification dropped some factors: number only those still used
        used = sorted(set().union(*(_leaf_factors(t) for t in uppers.values())) if uppers else set())
        renumber = {old: new for new, old in enumerate(used)}
        self.factors = [numbering.factors[old] for old in used]
        self.always: list[int] = []  # rules no factor can rule out
        # factor -> rules possible as soon as it occurs / rules to check when it occurs
        self.sufficient: dict[int, list[int]] = {}
        self.watchers: dict[int, list[int]] = {}
        self.cnf: dict[int, tuple[frozenset[int], ...]] = {}  # the clauses left to check
        self.trees: dict[int, Tree] = {}  # rules whose upper tree is not clauses
        # fields of another protocol (the ssh 'command' of a rule for any protocol) are never built
        self.rule_fields = {
            r: frozenset(f for f in tree_fields(program.trees[r], program) if protocol in field_protocols(f))
            for r in rule_ids
        }
        for rule in rule_ids:
            self._add(rule, _renumber(uppers[rule], renumber))
        # per factor, in one list: (rules it makes possible, (rule, clauses left or None) to check)
        self._on_hit: list[tuple[tuple[int, ...], tuple[tuple[int, tuple[frozenset[int], ...] | None], ...]]] = [
            (tuple(self.sufficient.get(f, ())), tuple((r, self.cnf.get(r)) for r in self.watchers.get(f, ())))
            for f in range(len(self.factors))
        ]
        # the same few sets of rules come up again and again: their sorted list and fields, kept
        self._answers: dict[frozenset[int], Candidates] = {}
        self._decided: dict[int, Candidates] = {}  # keyed by the factors that occur, as bits
        self.all_rules = Candidates(
            rule_ids, frozenset().union(*self.rule_fields.values()) if rule_ids else frozenset()
        )
        self.scanned = sorted(self._checked_factors())  # factors of clauses left out are not scanned for
        # ids in the scan: a folded line's start ('\n' and a blank) is 0, then the factors from
        # the commonest: a scan answers with an int of as many bits as its highest id, which
        # costs in building, hashing and comparing it (in first-use order, ~1,900 bits a request)
        self._fold_bit = 1
        self._factor_of = [-1, *sorted(self.scanned, key=lambda f: (self._weight(frozenset((f,))), self.factors[f]))]
        self._db = self._compile() if self.scanned else None

    def _add(self, rule: int, upper: Tree) -> None:
        if upper == _TRUE:
            self.always.append(rule)
            return
        found = clauses(upper)
        if found is not None and len(found) == 1:
            for factor in found[0]:
                self.sufficient.setdefault(factor, []).append(rule)
            return
        # a rule is looked at only when its most selective clause holds; the others ('get',
        # 'host'...) are checked then
        if found is not None:
            watched = max(found, key=self._weight)
            # a clause of common words ('agent', 'content') rules out little and costs a match
            # callback on most requests: left unchecked, the rule is a candidate a little more often
            # and one the watched clause implies (' or' holds 'or') always holds then: not scanned for
            self.cnf[rule] = tuple(
                c
                for c in found
                if c is not watched and self._weight(c) >= WORTH_CHECKING and not self._implies(watched, c)
            )
        else:
            watched = self._watch(upper)
            self.trees[rule] = upper
        for factor in watched:
            self.watchers.setdefault(factor, []).append(rule)

    def _implies(self, clause: frozenset[int], other: frozenset[int]) -> bool:
        """Whether ``other`` holds whenever ``clause`` does: each factor of ``clause`` holds one of
        ``other``'s found anywhere (the same factor, or its literal a piece of the first's)."""
        anywhere = [lit for zone, lit in (self.factors[f] for f in other) if not zone]
        return all(factor in other or any(lit in self.factors[factor][1] for lit in anywhere) for factor in clause)

    def _weight(self, clause: frozenset[int]) -> float:
        return clause_weight(frozenset(self.factors[f] for f in clause))

    def _watch(self, tree: Tree) -> frozenset[int]:
        """Factors one of which occurs whenever ``tree`` is possible."""
        if tree[0] == "leaf":
            return frozenset(tree[1])
        children = [self._watch(child) for child in tree[1]]
        if tree[0] == "any":
            return frozenset().union(*children)
        return max(children, key=self._weight)

    def _checked_factors(self) -> set[int]:
        found = set(self.sufficient) | set(self.watchers)
        for others in self.cnf.values():
            found.update(*others)
        for tree in self.trees.values():
            found |= _leaf_factors(tree)
        return found

    def _compile(self) -> ScanDatabase:
        literal = SINGLEMATCH | CASELESS
        zoned = literal | MULTILINE
        factors = [self.factors[f] for f in self._factor_of[1:]]
        expressions = [factor_expression(f) for f in factors]
        flags = [zoned if zone in (LINE_START, TARGET_START) else literal for zone, _ in factors]
        ids = list(range(len(self._factor_of)))
        return compile_cached([FOLD_EXPRESSION, *expressions], ids, [SINGLEMATCH, *flags], self._lib)

    def candidates(self, view: bytes | None, folded: Callable[[], bool] | None = None) -> Candidates:
        """The rules that could match a request whose view is ``view`` (None: every rule).

        ``folded``: for a view taken without looking for folded header lines (which make it
        inexact), how to ask whether the request has one. The scan finds every '\\n' and blank
        anyway, so only the few requests that hold one (in a body, mostly) are asked: a regex
        search through every request for it cost a few % of the engine's time."""
        if view is None or len(view) > MAX_VIEW:
            return self.all_rules
        return self._answer(self._db.scan(view) if self._db is not None else 0, folded)

    def candidates_many(self, subjects: list[Subject]) -> list[Candidates]:
        """``candidates`` of each subject's view, the database scanned for all in a row (while
        it is in the CPU's caches: the prefilter of a full rule set is megabytes)."""
        views = [subject.prefilter_view(False) for subject in subjects]
        scanned = [view for view in views if view is not None and len(view) <= MAX_VIEW]
        if self._db is None:  # (no factor to scan for: every answer is worked out)
            found = iter([0] * len(scanned))
            decided: dict[int, Candidates] = {}
        else:
            found = iter(self._db.scan_many(scanned))
            decided = self._decided
        out: list[Candidates] = []
        for subject, view in zip(subjects, views, strict=True):
            if view is None or len(view) > MAX_VIEW:
                out.append(self.all_rules)
                continue
            hits = next(found)
            # the common case first: a set of factors decided before, no fold (its bit is 1)
            answer = decided.get(hits) if not hits & 1 else None
            out.append(answer if answer is not None else self._answer(hits, subject.head_folded))
        return out

    def _answer(self, hits: int, folded: Callable[[], bool] | None) -> Candidates:
        """The candidates when the factors ``hits`` (as bits) occur in the view."""
        if hits & self._fold_bit:
            hits ^= self._fold_bit
            if folded is not None and folded():
                return self.all_rules
        elif self._db is None and folded is not None and folded():
            return self.all_rules
        if not hits:
            return NO_CANDIDATES if not self.always else self._decide(set())
        # the answer depends on nothing but which factors occur, and the same few sets occur
        # again and again: each set's answer is worked out once (a lazily built decision table)
        found = self._decided.get(hits)
        if found is None:
            if len(self._decided) >= MAX_DECIDED:
                self._decided.clear()
            factor_of = self._factor_of
            found = self._decided[hits] = self._decide({factor_of[i] for i in mask_ids(hits)})
        return found

    def _decide(self, hits: set[int]) -> Candidates:
        rules: set[int] = set(self.always) if self.always else set()
        to_check: list[tuple[int, tuple[frozenset[int], ...] | None]] = []
        on_hit = self._on_hit
        for factor in hits:
            sure, check = on_hit[factor]
            if sure:
                rules.update(sure)
            if check:
                to_check += check
        for rule, others in to_check:
            if others is None:
                if possible(self.trees[rule], hits):
                    rules.add(rule)
                continue
            for clause in others:
                if hits.isdisjoint(clause):
                    break
            else:
                rules.add(rule)
        if not rules:
            return NO_CANDIDATES
        key = frozenset(rules)
        found_before = self._answers.get(key)
        if found_before is not None:
            return found_before
        if len(self._answers) >= MAX_ANSWERS:
            self._answers.clear()
        rule_fields = self.rule_fields
        answer = self._answers[key] = Candidates(sorted(rules), frozenset().union(*[rule_fields[r] for r in rules]))
        return answer
