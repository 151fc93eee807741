"""Shared, cached rule loading for the detect tests (compiling Hyperscan takes a moment)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from honeyguard.detect import Engine, Ruleset, load_rules

WILD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wild-http" / "requests.jsonl"
KEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kev" / "known_exploited_vulnerabilities.json"


#: a rule over one header, for tests that need one beside their own (YAML list item, indented)
SCANNER_UA_RULE = r"""
  - id: t-ua
    name: a scanner's User-Agent
    severity: low
    protocol: http
    match:
      field: header.user-agent
      regex: '\b(?:zgrab|masscan)/\d'
    examples:
      positive:
        - http: {method: GET, target: /, headers: {Host: a, User-Agent: "Mozilla/5.0 zgrab/0.x"}}
      negative:
        - http: {method: GET, target: /, headers: {Host: a, User-Agent: "Mozilla/5.0"}}
"""


def post_to_script_rule(suffix: str) -> str:
    """A rule (YAML list item) for a POST to a path ending in ``suffix``: two leaves under 'all'."""
    return f"""
  - id: t-post-{suffix}
    name: a POST to a .{suffix} script
    severity: high
    protocol: http
    match:
      all:
        - field: method
          equals: POST
        - field: path
          endswith: '.{suffix}'
    examples:
      positive:
        - http: {{method: POST, target: /x.{suffix}, headers: {{Host: a}}}}
      negative:
        - http: {{method: GET, target: /x.{suffix}, headers: {{Host: a}}}}
"""


def byte_pieces(*items: bytes, max_size: int = 12) -> st.SearchStrategy[bytes]:
    """Bytes made of the given pieces: the shapes decoders trip on, in any order."""
    return st.lists(st.sampled_from(items), max_size=max_size).map(b"".join)


@lru_cache(maxsize=1)
def builtin_ruleset() -> Ruleset:
    """The built-in rules that load (other rule files' mistakes are `honeyguard rules test`'s job)."""
    rules, _errors = load_rules()
    return Ruleset(rules)


@lru_cache(maxsize=2)
def builtin_engine(backend: str) -> Engine:
    return builtin_ruleset().engine(backend)  # type: ignore[arg-type]


def write_rules(directory: Path, text: str, name: str = "rules.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path
