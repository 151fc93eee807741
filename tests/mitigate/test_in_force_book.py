"""InForce against a plain reading of its decisions: what is active, what expired, the drop counts,
the decided values, through many renewals (its expiry heap compacted) and decisions sharing one indicator."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

import msgspec

from honeyguard.mitigate.guardrails import RangeShare
from honeyguard.mitigate.in_force import InForce
from honeyguard.model.decision import Decision
from tests.export.conftest import NOW, decision


def _expected(unwithdrawn: list[Decision], now_: object) -> tuple[dict[str, Decision], list[str]]:
    """As the service read the store: the newest unexpired per indicator, and the expired ids."""
    active: dict[str, Decision] = {}
    expired: list[str] = []
    for d in unwithdrawn:
        if d.expires_at > now_:  # type: ignore[operator]
            active[d.indicator_id] = d
        else:
            expired.append(d.id)
    return active, expired


def _decided(active: Iterable[Decision]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in active:
        out.setdefault(d.type, set()).add(d.value)
    return out


def test_renewals_expiries_and_shared_indicators_match_a_plain_reading() -> None:
    rng = random.Random(11)
    book = InForce(RangeShare(), stale_slack=8)  # compacted often
    saved: dict[str, Decision] = {}  # the "store": unwithdrawn, in change order
    now = NOW
    made = 0
    for _ in range(400):
        changed: list[Decision] = []
        active, expired_ids = _expected(list(saved.values()), now)
        assert [d.id for d in book.take_expired(now)] == expired_ids
        assert book.active == active
        assert book.decided == _decided(active.values())  # (no empty set left: as large as in force)
        rebuilt = RangeShare()
        rebuilt.reset(d.value for d in active.values() if d.action == "drop")
        assert book.share.counts == rebuilt.counts
        changed += [msgspec.structs.replace(saved[i], withdrawn_at=now) for i in expired_ids]
        for d in rng.sample(list(active.values()), min(len(active), 30)):  # renewed, many times over
            changed.append(
                msgspec.structs.replace(d, expires_at=d.expires_at + timedelta(minutes=rng.randrange(1, 90)))
            )
        for _ in range(rng.randrange(0, 4)):  # new ones, some for an indicator already decided
            made += 1
            value = f"45.142.{rng.randrange(3)}.{rng.randrange(8)}"
            hours = rng.choice([1, 5, 30])
            fresh = decision(value, action=rng.choice(["drop", "alert"]))
            changed.append(
                msgspec.structs.replace(
                    fresh,
                    id=f"d{made}",
                    indicator_id=f"ind-{value}",
                    created_at=now,
                    expires_at=now + timedelta(hours=hours),
                )
            )
        for d in changed:  # saved, as the store keeps them
            saved.pop(d.id, None)
            if d.withdrawn_at is None:
                saved[d.id] = d
        book.apply(changed)
        assert book.unwithdrawn == saved
        now += timedelta(minutes=rng.randrange(1, 30))
    assert len(book._expiries) <= 2 * len(saved) + 8  # renewals' stale entries compacted away


def test_a_reload_keeps_the_decided_table_it_shares() -> None:
    """The defense loop's PolicyFloors holds the book's ``decided``: a reload refills that same dict."""
    book = InForce(RangeShare())
    table = book.decided
    first = msgspec.structs.replace(decision("45.142.0.1"), indicator_id="ind-a")
    book.apply([first])
    assert table == {first.type: {"45.142.0.1"}}
    second = msgspec.structs.replace(decision("45.142.0.2"), id="d2", indicator_id="ind-b")
    book.reload([second])
    assert book.decided is table and table == {second.type: {"45.142.0.2"}}
