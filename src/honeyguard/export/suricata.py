"""Suricata rules, and AWS Network Firewall stateful rule groups built from them.

Only keywords AWS Network Firewall accepts are used (SURICATA_KEYWORDS); sids are derived
from the decision's value and direction, so a rule keeps its sid across runs.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from itertools import islice
from typing import TextIO
from urllib.parse import urlsplit

from honeyguard.export.base import active, label, network_of
from honeyguard.model.decision import Decision

SID_BASE = 1_000_000_000  # local-rules range, clear of the public rule sets' sids
SID_SPAN = 2_000_000_000
#: Every keyword these rules use; all are supported by AWS Network Firewall (Suricata 7).
SURICATA_KEYWORDS = frozenset(
    {
        "msg",
        "sid",
        "rev",
        "metadata",
        "flow",
        "tls.sni",
        "http.host",
        "http.uri",
        "dns.query",
        "content",
        "nocase",
        "startswith",
        "endswith",
        "dotprefix",
    }
)


_NEEDS_HEX = re.compile(r'[^\x20-\x7e]|["\\;|]')


def _quote(text: str) -> str:
    """Content bytes Suricata must not read as syntax become |hex|."""
    if _NEEDS_HEX.search(text) is None:  # the usual case: nothing to hex
        return text
    out = []
    for ch in text:
        if ch in '";\\|' or not 32 <= ord(ch) < 127:
            out.append("|" + " ".join(f"{b:02X}" for b in ch.encode("utf-8")) + "|")
        else:
            out.append(ch)
    return "".join(out)


def _meta(decision: Decision) -> str:
    return (
        f"metadata: honeyguard_indicator {decision.indicator_id}, honeyguard_role "
        f"{_meta_roles(tuple(decision.roles))}, honeyguard_confidence {decision.confidence}"
    )


@lru_cache(maxsize=1024)  # few distinct role sets
def _meta_roles(roles: tuple[str, ...]) -> str:
    return "_".join(r.replace("-", "_") for r in roles) or "unknown"


class SidAllocator:
    """Stable sids: a hash of (value, direction, kind), probing past the rare collision in value order."""

    def __init__(self) -> None:
        self._taken: set[int] = set()

    def sid(self, key: str) -> int:
        candidate = SID_BASE + zlib.crc32(key.encode()) % SID_SPAN
        while candidate in self._taken:
            candidate = SID_BASE + (candidate - SID_BASE + 1) % SID_SPAN
        self._taken.add(candidate)
        return candidate


def suricata_rules(decisions: Iterable[Decision], now: datetime) -> Iterator[str]:
    """One rule a line, in a stable order."""
    return rules_in_order(active(decisions, now))


def rules_in_order(chosen: Iterable[Decision]) -> Iterator[str]:
    """The rules of decisions already in force and in the stable order (sids depend on that order)."""
    sids = SidAllocator()
    for d in chosen:
        if d.type in ("ip", "cidr"):  # the usual case: one rule, or two for "both"
            yield from _address_rules(d, sids)
        elif d.type == "domain":
            yield from _domain_rules(d, _head(d), _meta(d), sids)
        elif d.type == "url":
            yield from _url_rules(d, _head(d), _meta(d), sids)


def _head(d: Decision) -> str:
    return f'msg:"honeyguard {d.direction} {label(d, 160)}";'


def _address_rules(d: Decision, sids: SidAllocator) -> tuple[str, ...]:
    net = network_of(d.value)
    if net is None:
        return ()
    text = net[1]
    head = f'msg:"honeyguard {d.direction} {label(d, 160)}"; {_meta(d)}; sid:'
    if d.direction == "ingress":
        return (f"drop ip [{text}] any -> $HOME_NET any ({head}{sids.sid(text + '|in')}; rev:1;)",)
    if d.direction == "egress":
        return (f"drop ip $HOME_NET any -> [{text}] any ({head}{sids.sid(text + '|out')}; rev:1;)",)
    if d.direction == "both":
        return (
            f"drop ip [{text}] any -> $HOME_NET any ({head}{sids.sid(text + '|in')}; rev:1;)",
            f"drop ip $HOME_NET any -> [{text}] any ({head}{sids.sid(text + '|out')}; rev:1;)",
        )
    return ()


def _domain_match(domain: str, exact: bool) -> str:
    if exact:
        return f'content:"{_quote(domain)}"; nocase; startswith; endswith;'
    return f'dotprefix; content:".{_quote(domain)}"; nocase; endswith;'


def _domain_rules(d: Decision, head: str, tail: str, sids: SidAllocator) -> Iterator[str]:
    domain = d.value.lower().rstrip(".")
    exact = any(c.check == "domain-popularity" and "exact name only" in c.detail for c in d.trace)
    match = _domain_match(domain, exact)
    yield (
        f"drop tls $HOME_NET any -> $EXTERNAL_NET any ({head} tls.sni; {match} flow:to_server; {tail}; "
        f"sid:{sids.sid(domain + '|tls')}; rev:1;)"
    )
    yield (
        f"drop http $HOME_NET any -> $EXTERNAL_NET any ({head} http.host; {match} flow:to_server; {tail}; "
        f"sid:{sids.sid(domain + '|http')}; rev:1;)"
    )
    yield (
        f"drop dns $HOME_NET any -> any any ({head} dns.query; {match} {tail}; sid:{sids.sid(domain + '|dns')}; rev:1;)"
    )


def _url_rules(d: Decision, head: str, tail: str, sids: SidAllocator) -> Iterator[str]:
    try:
        parts = urlsplit(d.value)
    except ValueError:
        return
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not host or parts.scheme not in ("http", ""):
        return  # HTTPS URLs are opaque on the wire: their host is a domain decision's job
    yield (
        f'drop http $HOME_NET any -> $EXTERNAL_NET any ({head} http.host; content:"{_quote(host)}"; nocase; '
        f'startswith; endswith; http.uri; content:"{_quote(path)}"; startswith; endswith; flow:to_server; '
        f"{tail}; sid:{sids.sid(d.value + '|url')}; rev:1;)"
    )


class SuricataRules:
    name = "suricata"
    filename = "honeyguard.rules"
    description = "Suricata rules (drop) for addresses, domains (TLS SNI, HTTP Host, DNS) and URLs"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        out.write(f"# honeyguard decisions at {now.isoformat()}\n")
        rules = suricata_rules(decisions, now)
        while block := "\n".join(islice(rules, 8192)):  # a rule a line, written in large blocks
            out.write(block + "\n")


EXPORTERS = (SuricataRules(),)
