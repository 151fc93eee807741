"""The book's fold (shortcuts: remembered last sighting, shared strings, the confidence bound that
skips scoring) gives exactly what a plain per-sighting fold gives, however the stream is cut into
steps; and ``take_touched(now, wanted)`` keeps exactly the touched indicators ``wanted`` accepts."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.intel.book import FEED_PREFIX, IndicatorBook
from honeyguard.intel.params import load_params
from honeyguard.intel.scoring import Accumulator, SourceTally, score
from honeyguard.intel.sightings import seen_in
from honeyguard.model import Connect, Download, Event, EventBody, HttpRequest, Ioc, SshCommand, SshLogin
from tests.intel.steps import hours_after, stepped
from tests.intel.test_indicator_book import ev

PARAMS = load_params()
T0 = datetime(2026, 5, 1, tzinfo=UTC)

_BODIES: list[EventBody] = [
    Connect(),
    HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[]),
    SshLogin(username="root", method="password", password="x"),
    SshLogin(username="admin", method="password", password="y", success=True),
    SshCommand(line="uname -a", channel="shell"),
    Download(url="http://203.0.113.7/x.sh", tool="wget", command="wget"),
]

events = st.builds(
    lambda body, hours, sensor, location, src, cves, techniques, ioc: ev(
        _BODIES[body],
        at=T0 + timedelta(hours=hours),
        sensor=f"s{sensor}",
        location=location,
        src=f"198.51.100.{src}",
        cves=cves,
        techniques=techniques,
        iocs=[Ioc(type="url", value=f"http://203.0.113.{ioc}/bins/mips", role="download")] if ioc < 3 else None,
    ),
    body=st.integers(0, len(_BODIES) - 1),
    hours=st.integers(-48, 24 * 40),  # out of order too: older sightings add without decay
    sensor=st.integers(0, 2),
    location=st.sampled_from(["eu", "us", ""]),
    src=st.integers(0, 4),
    cves=st.sampled_from([[], [], ["CVE-2021-44228"], ["CVE-2017-17215", "CVE-2023-1389"]]),
    techniques=st.sampled_from([[], ["T1595"], ["T1190"]]),
    ioc=st.integers(0, 8),
)


def _keys(event: Event) -> list[tuple[str, str]]:
    return [(type_, value) for type_, value, *_ in seen_in(event)]


class _Plain:
    """The fold as docs/intel.md states it, one sighting at a time, nothing remembered between."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], dict[str, object]] = {}
        self.seq = 0

    def observe(self, event: Event) -> None:
        for type_, value, role, behaviour, reason in seen_in(event):
            weight = PARAMS.strength_of(behaviour)
            item = self.seen.setdefault(
                (type_, value),
                {
                    "n": 0,
                    "first": event.ts,
                    "last": event.ts,
                    "roles": set(),
                    "sensors": set(),
                    "locations": set(),
                    "cves": set(),
                    "techniques": set(),
                    "tallies": {},
                    "evidence": [],
                },
            )
            item["n"] = int(item["n"]) + 1  # type: ignore[call-overload]
            item["first"] = min(item["first"], event.ts)  # type: ignore[type-var]
            item["last"] = max(item["last"], event.ts)  # type: ignore[type-var]
            for name, values in (
                ("roles", [role]),
                ("sensors", [event.sensor]),
                ("locations", [event.location]),
                ("cves", event.cves),
                ("techniques", event.techniques),
            ):
                item[name].update(v for v in values if v)  # type: ignore[attr-defined]
            source = f"sensor:{event.sensor}"
            roles = item["tallies"].setdefault(source, {})  # type: ignore[attr-defined]
            roles.setdefault(role, Accumulator()).add(
                weight, event.ts.timestamp(), PARAMS.half_life_seconds(type_, role)
            )
            self._evidence(item["evidence"], (weight, event.ts, reason, event.id, event.sensor))  # type: ignore[arg-type]

    def _evidence(self, kept: list[tuple[object, ...]], found: tuple[object, ...]) -> None:
        self.seq += 1
        item = (found[0], found[1], self.seq, *found[2:])
        if len(kept) < PARAMS.evidence_kept:
            heapq.heappush(kept, item)
        elif item[:2] > kept[0][:2]:  # stronger, or as strong and newer
            heapq.heapreplace(kept, item)

    def confidence(self, key: tuple[str, str], now: datetime) -> int:
        tallies = [
            SourceTally(source=s, is_feed=s.startswith(FEED_PREFIX), roles=r)
            for s, r in self.seen[key]["tallies"].items()
        ]  # type: ignore[attr-defined]
        return score(tallies, key[0], PARAMS, now).confidence


@settings(max_examples=150, deadline=None)
@given(steps=stepped(events, most_events=60, largest_step=15, most_steps=20), now=hours_after(T0, first=0))
def test_the_fold_is_the_plain_fold_whatever_the_steps(steps: list[list[Event]], now: datetime) -> None:
    book, plain = IndicatorBook(PARAMS), _Plain()
    for step in steps:
        for event in step:
            plain.observe(event)
        book.observe_events(step)
        touched = book.take_touched(now)
        assert {(i.type, i.value) for i in touched} == {key for e in step for key in _keys(e)}
        for indicator in touched:
            assert indicator.confidence == plain.confidence((indicator.type, indicator.value), now)
    for key, item in plain.seen.items():
        got = book.get(key[0], key[1], now)
        assert got is not None
        assert got.sightings == item["n"] and got.first_seen == item["first"] and got.last_seen == item["last"]
        assert (set(got.roles), set(got.sensors), set(got.locations), set(got.cves), set(got.techniques)) == (
            item["roles"],
            item["sensors"],
            item["locations"],
            item["cves"],
            item["techniques"],
        )
        assert got.sources == sorted(item["tallies"])  # type: ignore[call-overload]
        assert got.confidence == plain.confidence(key, now)
        kept = sorted(item["evidence"], key=lambda e: e[1], reverse=True)  # type: ignore[arg-type, index]
        wanted = [e[:2] + e[3:] for e in kept]
        assert [(e.strength, e.at, e.reason, e.event_id, e.sensor) for e in got.evidence] == wanted
    assert len(book) == len(plain.seen)


@settings(max_examples=200, deadline=None)
@given(
    steps=stepped(events, most_events=60, largest_step=15, most_steps=20),
    now=hours_after(T0),
    pick=st.integers(0, 100),
    decided=st.sets(st.integers(0, 4)),
)
def test_take_touched_with_wanted_keeps_what_wanted_accepts(
    steps: list[list[Event]], now: datetime, pick: int, decided: set[int]
) -> None:
    """``wanted`` as the defense loop's: the policy floor, or a decision in force for the value. The
    floor is set to one touched indicator's exact confidence, where a bound too low would drop it."""
    asked, everything = IndicatorBook(PARAMS), IndicatorBook(PARAMS)
    chosen = {f"198.51.100.{i}" for i in decided}
    for step in steps:
        asked.observe_events(step)
        everything.observe_events(step)
        touched = everything.take_touched(now)
        floor = touched[pick % len(touched)].confidence if touched else pick

        def wanted(type_: str, value: str, confidence: int, floor: int = floor) -> bool:
            return confidence >= floor or value in chosen

        assert asked.take_touched(now, wanted) == [i for i in touched if wanted(i.type, i.value, i.confidence)]
