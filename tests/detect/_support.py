"""The detect tests' shared helpers: cached rule loading (compiling Hyperscan takes a moment),
rule snippets, hypothesis strategies, sensor events and swaps of native helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import strategies as st

from honeyguard.detect import Engine, Ruleset, load_rules
from honeyguard.model import Event, HttpRequest

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


def joined_payloads(pieces: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Payloads of one to six exploit pieces (or random bytes) joined by a separator, spaces
    sent as they are or form-encoded as '+'."""
    return st.builds(
        lambda parts, sep, plus: sep.join(parts).replace(b" ", b"+" if plus else b" "),
        st.lists(st.one_of(st.sampled_from(pieces), st.binary(max_size=12)), min_size=1, max_size=6),
        st.sampled_from([b" ", b";", b"&", b"", b"\n", b"%20"]),
        st.booleans(),
    )


def http_event(request: HttpRequest, *, number: int = 1, dst_port: int = 80) -> Event:
    """An ``http.request`` event as a sensor records ``request`` (the event's ``number`` in its id)."""
    return Event(
        id=f"0190d3f0-0000-7000-8000-{number:012d}",
        ts=datetime(2026, 1, 1, tzinfo=UTC),
        sensor="s",
        location="l",
        session="x",
        kind="http.request",
        src_ip="198.51.100.1",
        src_port=40000,
        dst_port=dst_port,
        protocol="http",
        body=request,
    )


def swap_all(patch: pytest.MonkeyPatch, swaps: Iterable[tuple[object, str, object]]) -> None:
    """Each (module, name, replacement) patched in: the Python twins of native helpers."""
    for module, name, value in swaps:
        patch.setattr(module, name, value)


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
