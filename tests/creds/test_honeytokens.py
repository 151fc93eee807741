"""Honeytoken keys: realistic, distinct per response, carrying the decoy account; the files they
come in are found (and paired) by a real scanner; the store remembers who got which."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.creds import Scanner, ScanOptions, judge, keyid
from honeyguard.creds.honeytoken_files import is_bait
from honeyguard.creds.honeytokens import IOC_TYPE, HoneytokenIssuer, harvests_from_events, new_pair
from honeyguard.model import Connect, Event
from honeyguard.store.creds import CredsStore
from honeyguard.store.state import StateStore

BAIT = ["/.env", "/.env.bak", "/.env.production", "/app/.env.old", "/.aws/credentials", "/config.json",
        "/.git/config", "/wp-config.php.bak", "/wp-config.php~", "/api/config.json.save"]


@given(st.integers(min_value=10**10, max_value=999_999_999_999), st.integers(min_value=0, max_value=2**32))
@settings(max_examples=200, deadline=None)
def test_key_encodes_account_and_looks_real(account: int, seed: int) -> None:
    acct = f"{account:012d}"
    pair = new_pair(acct, SeededEntropy(seed))
    assert pair.key_id.startswith("AKIA") and keyid.is_well_formed(pair.key_id)
    assert keyid.account_id(pair.key_id) == acct
    assert judge.is_plausible_secret(pair.secret)


def test_keys_of_the_decoy_account_never_look_like_placeholders() -> None:
    # (an account such as 017179869182 is all ones in binary: its keys hold runs of 7s whatever we do)
    pairs = [new_pair("418295730164", SeededEntropy(seed)) for seed in range(300)]
    assert not any(judge.is_placeholder_key(p.key_id) or judge.is_example_key(p.key_id) for p in pairs)


def test_every_response_gets_a_distinct_key_and_is_found_by_a_scanner(tmp_path: Path) -> None:
    issuer = HoneytokenIssuer(sensor="edge-1", account_id="418295730164", entropy=SeededEntropy(3))
    served = []
    for number, path in enumerate(BAIT * 3):
        result = issuer.content_for(path, session=f"s{number}", src_ip="203.0.113.5")
        assert result is not None, path
        served.append((path, result))
        name = path.strip("/").replace("/", "_") + f".{number}"
        (tmp_path / name).write_bytes(result.body)
    keys = [r.issued.key_id for _, r in served]
    assert len(set(keys)) == len(keys)
    hits = Scanner().scan_paths([str(tmp_path)]).hits
    found = {h.finding.key_id: h for h in hits}
    for path, result in served:
        hit = found[result.issued.key_id]
        assert hit.finding.verdict == "exposed" and hit.finding.secret_paired, path
        assert hit.secret is not None and result.issued.secret_sha256 is not None
    # an operator who lists the decoy account as a canary sees them as canaries, not leaks
    canaries = Scanner(ScanOptions(canaries={"418295730164": "honeyguard"})).scan_paths([str(tmp_path)]).hits
    assert {h.finding.verdict for h in canaries} == {"canary"}
    config = json.loads(next(r for p, r in served if p == "/config.json").body)
    assert config["aws"]["accessKeyId"].startswith("AKIA")


def test_degenerate_account_still_gives_a_well_formed_key() -> None:
    pair = new_pair("000000000001", SeededEntropy(1))  # its key body is mostly A: the loop is bounded
    assert keyid.account_id(pair.key_id) == "000000000001"


def test_not_bait_and_odd_paths() -> None:
    issuer = HoneytokenIssuer(sensor="s", entropy=SeededEntropy(1))
    for path in ("/", "/index.html", "/wp-config.php", "/.envrc", "/env", "/.aws/config", "/config.jsonx"):
        assert issuer.content_for(path, session="s", src_ip="1.2.3.4") is None, path
    assert is_bait("/..//.env?x=1#frag") and is_bait("\\.git\\config") and is_bait("/root/.aws/credentials")
    assert issuer.take("s") == []
    with pytest.raises(ValueError):
        HoneytokenIssuer(sensor="s", account_id="12345")


def test_take_stamps_the_session_and_collector_learns_from_events(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    issuer = HoneytokenIssuer(sensor="edge-1", entropy=SeededEntropy(9), clock=clock)
    served = issuer.content_for("/.env", session="sess-1", src_ip="203.0.113.5")
    assert served is not None
    event = Event(id="0190f0c0-0000-7000-8000-000000000001", ts=clock.now(), sensor="edge-1", location="lab",
                  session="sess-1", kind="connect", src_ip="203.0.113.5", src_port=5555, dst_port=80,
                  protocol="http", body=Connect())
    issuer.stamp(event)
    assert [(i.type, i.value) for i in event.iocs] == [(IOC_TYPE, served.issued.key_id)]
    assert issuer.take("sess-1") == []  # once
    (learned,) = harvests_from_events([event])
    assert (learned.key_id, learned.src_ip, learned.session, learned.event_id) == (
        served.issued.key_id, "203.0.113.5", "sess-1", event.id)
    store = CredsStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    assert store.record_issued([learned]) == 1 and store.record_issued([learned]) == 0
    again = store.issued(served.issued.key_id)
    assert again is not None and again.src_ip == "203.0.113.5" and again.issued_at == clock.now()


def test_pending_sessions_are_bounded() -> None:
    issuer = HoneytokenIssuer(sensor="s", entropy=SeededEntropy(2))
    for number in range(5000):
        issuer.content_for("/.env", session=f"s{number}", src_ip="1.2.3.4")
    assert len(issuer._pending) <= 4096 and len(issuer.issued) <= 1000
