"""Loading: every mistake is reported with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from honeyguard.detect import Ruleset
from honeyguard.detect.rules import load_rule_file, load_rule_files
from honeyguard.errors import ContentError
from tests.detect._support import write_rules

GOOD = """\
rules:
  - id: hg-test-good
    name: a good rule
    techniques: [T1190]
    severity: low
    protocol: http
    match:
      field: path
      contains: /good
    examples:
      positive:
        - http: {method: GET, target: "/good"}
      negative:
        - http: {method: GET, target: "/"}
"""


def _rule(match: str, *, rule_id: str = "hg-test-x", protocol: str = "http", extra: str = "") -> str:
    return f"""\
  - id: {rule_id}
    name: test rule
    severity: low
    protocol: {protocol}{extra}
    match:
{match}
    examples:
      positive:
        - http: {{method: GET, target: "/x"}}
      negative:
        - http: {{method: GET, target: "/"}}
"""


def _error(tmp_path: Path, text: str) -> ContentError:
    path = write_rules(tmp_path, text)
    results = load_rule_file(path)
    errors = [r for r in results if isinstance(r, ContentError)]
    assert errors, "expected a ContentError"
    return errors[0]


def test_good_rule_loads(tmp_path: Path) -> None:
    ruleset = Ruleset.load([write_rules(tmp_path, GOOD)], builtin=False)
    assert [r.id for r in ruleset.rules] == ["hg-test-good"]
    assert ruleset.rules[0].where.line == 2


def test_unknown_field_points_at_its_line(tmp_path: Path) -> None:
    match = "      any:\n        - field: path\n          contains: /a\n        - field: bogus\n          contains: x"
    text = "rules:\n" + _rule(match)
    error = _error(tmp_path, text)
    assert error.file == str(tmp_path / "rules.yaml")
    assert error.line == 10  # the "field: bogus" line
    assert error.key == "match.any[1].field"
    assert "unknown field 'bogus'" in str(error)


def test_second_rule_error_is_located_in_that_rule(tmp_path: Path) -> None:
    text = GOOD + _rule("      field: path\n      regex: '(a+)+$'", rule_id="hg-test-second")
    error = _error(tmp_path, text)
    assert error.line == 21 and error.key == "match.regex"
    assert "nested quantifiers" in str(error) and "hg-test-second" in str(error)


@pytest.mark.parametrize(("match", "message"), [
    ("      field: path\n      regex: '(a|ab)+c'", "alternatives inside a repeat overlap"),
    ("      field: path\n      regex: '(x)\\1'", "back-references"),
    ("      field: path\n      regex: 'a*'", "matches the empty string"),
    ("      field: path\n      regex: '(unclosed'", "invalid regex"),
    ("      field: path\n      contains: ''", "non-empty string"),
    ("      field: path\n      contains: a\n      equals: b", "exactly one of"),
    ("      not:\n        field: path\n        contains: /admin", "needs a positive condition"),
    ("      field: command\n      contains: wget", "is not a http field"),
    ("      field: path\n      contains: a\n      case: maybe", "case is true or false"),
    ("      all: []", "non-empty list"),
])
def test_invalid_conditions_are_refused(tmp_path: Path, match: str, message: str) -> None:
    error = _error(tmp_path, "rules:\n" + _rule(match))
    assert message in str(error)
    assert error.line is not None and error.line >= 6


def test_spec_errors_name_the_key(tmp_path: Path) -> None:
    leaf = "      field: path\n      contains: /x"
    error = _error(tmp_path, "rules:\n" + _rule(leaf, extra="\n    cves: [CVE-21-1]"))
    assert error.key == "cves[0]" and error.line == 6
    error = _error(tmp_path, "rules:\n" + _rule(leaf).replace("severity: low", "severity: huge"))
    assert error.key == "severity" and error.line == 4


def test_examples_are_required(tmp_path: Path) -> None:
    text = "rules:\n" + _rule("      field: path\n      contains: /x").replace(
        "      negative:\n        - http: {method: GET, target: \"/\"}\n", "      negative: []\n")
    error = _error(tmp_path, text)
    assert error.key == "examples.negative"


def test_duplicate_ids_are_rejected_with_both_places(tmp_path: Path) -> None:
    first = write_rules(tmp_path / "a", GOOD)
    second = write_rules(tmp_path / "b", GOOD)
    rules, errors = load_rule_files([first, second])
    assert len(rules) == 1
    assert len(errors) == 1 and errors[0].file == str(second) and errors[0].line == 2
    assert f"first at {first}:2" in str(errors[0])


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as info:
        load_rule_file(write_rules(tmp_path, "rules:\n  - id: [unclosed\n"))
    assert info.value.line is not None


def test_ruleset_load_raises_the_first_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "rules:\n" + _rule("      field: nope\n      contains: x"))
    with pytest.raises(ContentError) as info:
        Ruleset.load([path], builtin=False)
    assert str(info.value).startswith(f"{path}:7: match.field:")
