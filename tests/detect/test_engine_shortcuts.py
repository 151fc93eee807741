"""The engine's shortcuts change its speed, never its answer.

Shared atoms (one id for the same pattern in several rules), clauses a stronger one implies left
out of the scan, folded header lines found by the prefilter's scan rather than a regex through
every request, the head's end found without a search through the body, and membership tests in
place of bytes.translate: each is checked against what it stands for.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.detect import Ruleset, raw_http_subject
from honeyguard.detect.httpfields import body_may_decode, query_may_decode
from honeyguard.detect.httpsplit import _REQUEST_LINE, _cut_head, _parse_request_line, head_ends
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.prefilter import Prefilter
from tests.detect._support import SCANNER_UA_RULE, post_to_script_rule, write_rules

RULES = (
    "\nrules:"
    + post_to_script_rule("sh")
    + post_to_script_rule("cgi")
    + r"""
  - id: t-adminer
    name: the adminer page, named again in the body
    severity: low
    protocol: http
    match:
      all:
        - field: path
          contains: '/adminer.php'
        - field: body
          contains: 'adminer'
    examples:
      positive:
        - http: {method: POST, target: /adminer.php, headers: {Host: a}, body: "auth[driver]=adminer"}
      negative:
        - http: {method: POST, target: /adminer.php, headers: {Host: a}, body: "auth[driver]=server"}
"""
    + SCANNER_UA_RULE
)


def _ruleset(tmp_path: Path) -> Ruleset:
    return Ruleset.load([write_rules(tmp_path, RULES)], builtin=False)


def _both(ruleset: Ruleset, raw: bytes) -> tuple[str, ...]:
    """The rules both engines find (they must agree), one request at a time and in a batch."""
    found = {ruleset.engine(backend).match(raw_http_subject(raw)).rules for backend in ("hyperscan", "re")}
    found.add(ruleset.engine("hyperscan").match_many([raw_http_subject(raw)])[0].rules)
    assert len(found) == 1, found
    return found.pop()


def test_the_same_pattern_in_two_rules_is_one_atom_and_both_rules_match(tmp_path: Path) -> None:
    ruleset = _ruleset(tmp_path)
    program = ruleset.program
    posts = [i for i, atom in enumerate(program.atoms) if atom.field == "method" and atom.value == b"POST"]
    assert len(posts) == 1  # one id: a scan reports it once, whichever rules need it
    assert program.atom_rules[posts[0]] == (0, 1)
    assert program.by_field["http"]["method"] == posts
    assert _both(ruleset, b"POST /a.sh HTTP/1.1\r\nHost: a\r\n\r\n") == ("t-post-sh",)
    assert _both(ruleset, b"POST /a.cgi HTTP/1.1\r\nHost: a\r\n\r\n") == ("t-post-cgi",)
    assert _both(ruleset, b"GET /a.cgi HTTP/1.1\r\nHost: a\r\n\r\n") == ()


def test_a_clause_the_watched_one_implies_is_not_scanned_for(tmp_path: Path) -> None:
    ruleset = _ruleset(tmp_path)
    prefilter = Prefilter(ruleset.program)
    scanned = {prefilter.factors[f] for f in prefilter.scanned}
    assert ("", b"adminer.php") in scanned
    assert ("", b"adminer") not in scanned  # 'adminer.php' holds it: the rule's other clause always holds then
    assert _both(ruleset, b"POST /adminer.php HTTP/1.1\r\nHost: a\r\n\r\nauth=adminer") == ("t-adminer",)
    assert _both(ruleset, b"POST /adminer.php HTTP/1.1\r\nHost: a\r\n\r\nauth=server") == ()


def test_a_folded_head_gets_every_rule_and_a_blank_line_start_in_a_body_does_not(tmp_path: Path) -> None:
    ruleset = _ruleset(tmp_path)
    prefilter = Prefilter(ruleset.program)
    folded = raw_http_subject(b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\r\n zgrab/1\r\n\r\n")
    assert folded.head_folded() and folded.prefilter_view() is None
    assert prefilter.candidates(folded.prefilter_view(False), folded.head_folded) is prefilter.all_rules
    assert _both(ruleset, folded.raw_bytes()) == ("t-ua",)  # the folded value is 'a zgrab/1'
    body = raw_http_subject(b'POST /adminer.php HTTP/1.1\r\nHost: a\r\n\r\n{\n  "x": "adminer"\n}')
    assert not body.head_folded()
    unchecked = prefilter.candidates(body.prefilter_view(False), body.head_folded)
    assert unchecked is not prefilter.all_rules
    assert unchecked.rules == prefilter.candidates(body.prefilter_view()).rules == [2]
    assert _both(ruleset, body.raw_bytes()) == ("t-adminer",)


HEADS = st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"a", b" ", b"\n\n", b"\r\n\r\n"]), max_size=12).map(b"".join)


def _cut_head_reference(data: bytes) -> tuple[bytes, bytes]:
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf], data[crlf + 4 :]
    if lf >= 0:
        return data[:lf], data[lf + 2 :]
    return data, b""


@settings(max_examples=500, deadline=None)
@given(HEADS)
def test_the_head_is_cut_where_both_searches_through_everything_cut_it(data: bytes) -> None:
    assert _cut_head(data) == _cut_head_reference(data)
    crlf, lf = head_ends(data)
    assert crlf == data.find(b"\r\n\r\n")
    assert lf == (data.find(b"\n\n") if crlf < 0 or data.find(b"\n\n") < crlf else -1)


BYTES = st.lists(st.sampled_from(list(b"a %+$\\&#\xc0\xc1\xe0\xc2\n")), max_size=10).map(bytes)
_NOT_QUERY_ESCAPE = bytes(sorted(set(range(256)) - set(b"+%\xc0\xc1\xe0$")))
_NOT_BODY_ESCAPE = bytes(sorted(set(range(256)) - set(b"+%\xc0\xc1\xe0$\\&")))


@settings(max_examples=500, deadline=None)
@given(BYTES)
def test_membership_tests_see_the_escape_bytes_translate_saw(data: bytes) -> None:
    assert query_may_decode(data) == bool(data.translate(None, _NOT_QUERY_ESCAPE))
    assert body_may_decode(data) == bool(data.translate(None, _NOT_BODY_ESCAPE))


@settings(max_examples=300, deadline=None)
@given(BYTES, BYTES)
def test_the_view_is_the_raw_request_only_when_nothing_in_it_decodes(target: bytes, body: bytes) -> None:
    raw = b"POST /" + target.replace(b"\n", b"") + b" HTTP/1.1\r\nHost: a\r\n\r\n" + body
    subject = raw_http_subject(raw)
    assert isinstance(subject, HttpSubject)
    view = subject.prefilter_view()
    escapes = b"%\\\xc0\xc1\xe0"
    if any(byte in raw for byte in escapes) or b"&#" in raw or b"${" in raw:
        assert view is None or view.startswith(raw)
    else:
        assert view == raw


def _request_line_reference(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    found = _REQUEST_LINE.match(line)
    if found is None:
        return None
    rest = found.group(2).rstrip(b" ")
    space = rest.rfind(b" ")
    if space > 0:
        version = rest[space + 1 :]
        if version[:5] == b"HTTP/" and 6 <= len(version) <= 13 and version.split() == [version]:
            return found.group(1), rest[:space].rstrip(b" "), version
    return found.group(1), rest, b""


LINES = st.lists(
    st.sampled_from([b"GET", b" ", b"/", b"\t", b"\x0b", b"\x0c", b"\r", b"HTTP/", b"1.1", b"x", b"\xa0"]), max_size=9
).map(b"".join)


@settings(max_examples=1000, deadline=None)
@given(LINES)
def test_the_request_line_s_version_is_told_apart_as_before(line: bytes) -> None:
    assert _parse_request_line(line) == _request_line_reference(line)
