"""The intelligence tables (feed imports, allowlist, blast radius, findings) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from honeyguard.model.finding import DetailsEvidence, Finding
from honeyguard.store.intel import AllowItem, FeedItem, IntelStore
from honeyguard.store.state import StateStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(state_url: str) -> IntelStore:
    return IntelStore(StateStore(state_url))


def _feed(value: str, confidence: int = 70) -> FeedItem:
    return FeedItem(source="abuse.example", type="ip", value=value, role="scanner", confidence=confidence, at=NOW)


def test_feed_imports_are_numbered_and_a_reimport_refreshes(store: IntelStore) -> None:
    assert store.save_feed([_feed("45.142.120.7"), _feed("45.142.120.8")]) == 2
    items, top = store.feed()
    assert [i.value for i in items] == ["45.142.120.7", "45.142.120.8"] and top == 2
    assert all(i.at == NOW and i.at.tzinfo == UTC for i in items)
    store.save_feed([_feed("45.142.120.7", confidence=90)])
    newer, newest = store.feed(top)
    assert [(i.value, i.confidence) for i in newer] == [("45.142.120.7", 90)] and newest == 3
    assert len(store.feed()[0]) == 2


def test_allowlist_expires_and_reads_back_utc(store: IntelStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.allow(AllowItem(type="ip", value="8.8.8.8", reason="resolver", expires_at=None, created_at=NOW))
    store.allow(AllowItem(type="domain", value="corp.example", reason="ours",
                          expires_at=datetime(2026, 6, 1, 15, 0, tzinfo=plus_two), created_at=NOW))  # 13:00 UTC
    assert [i.value for i in store.allowed(NOW)] == ["8.8.8.8", "corp.example"]
    [_, corp] = store.allowed(NOW)
    assert corp.expires_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC) and corp.expires_at.tzinfo == UTC
    assert [i.value for i in store.allowed(NOW + timedelta(hours=1, seconds=1))] == ["8.8.8.8"]
    assert store.unallow("ip", "8.8.8.8") and not store.unallow("ip", "8.8.8.8")


def test_blast_radius_keeps_the_newest_measure(store: IntelStore) -> None:
    store.save_blast_radius([("45.142.120.7", 3, 2**33)], NOW)
    store.save_blast_radius([("45.142.120.7", 5, 10), ("91.92.240.10", 1, 1)], NOW + timedelta(hours=1))
    assert store.blast_radius() == {"45.142.120.7": 5, "91.92.240.10": 1}


def test_findings_replace_by_id_and_filter(store: IntelStore) -> None:
    def finding(id_: str, subject: str, hour: int) -> Finding:
        return Finding(id=id_, kind="exposed-key", severity="high", subject=subject, source="test",
                       evidence=DetailsEvidence(values={"where": "github"}), first_seen=NOW,
                       last_seen=NOW + timedelta(hours=hour))

    store.save_findings([finding("a", "AKIAONE", 1), finding("b", "AKIATWO", 2)])
    store.save_findings([finding("a", "AKIAONE", 3)])
    assert [(f.id, f.last_seen) for f in store.findings()] == [("a", NOW + timedelta(hours=3)),
                                                             ("b", NOW + timedelta(hours=2))]
    assert [f.id for f in store.findings(subject="AKIATWO")] == ["b"]
    assert store.findings(kind="honeytoken-used") == []
