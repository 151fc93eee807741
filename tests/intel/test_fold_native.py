"""The native fold (_foldnative) leaves the book exactly as the Python fold does: every entry's
fields, sums, evidence heap (items, order and sequence numbers), the touched list and the
indicators read from it, on generated streams and on the ingest benchmark's events; and it
raises, never crashes, on what is not an event."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.intel import book as book_module
from honeyguard.intel.book import NATIVE_AVAILABLE, IndicatorBook
from honeyguard.intel.params import load_params
from honeyguard.model import (
    Connect,
    Download,
    EventBody,
    HttpRequest,
    Ioc,
    RawData,
    SshCommand,
    SshLogin,
    Upload,
)
from tests.intel.steps import hours_after, stepped
from tests.intel.test_indicator_book import ev

PARAMS = load_params()
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_the_extension_is_built_in_ci() -> None:
    # Optional at runtime (the Python fold takes over), required where CI builds the project.
    assert NATIVE_AVAILABLE or os.environ.get("CI") != "true"


def test_a_book_folds_natively_when_built() -> None:
    assert (IndicatorBook(PARAMS)._native is not None) == NATIVE_AVAILABLE
    assert IndicatorBook(PARAMS, native=False)._native is None


_BODIES: list[EventBody] = [
    Connect(),
    HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[]),
    RawData(reason="malformed", data=b"x", size=1, sha256="0" * 64),
    SshLogin(username="root", method="password", password="x"),
    SshLogin(username="ad'min\n", method="publickey", success=True),
    SshCommand(line="uname -a", channel="shell"),
    Download(url="http://203.0.113.7/x.sh", tool="wget", command="wget"),
    Upload(filename="a", size=1, sha256="AB" * 32, via="sftp", stored=True),
]

_IOCS = [
    Ioc(type="url", value="http://203.0.113.9/bins/mips", role="download"),
    Ioc(type="url", value="http://Evil.Example./x", role="c2"),
    Ioc(type="url", value="http://[::1/", role="download"),  # no host: the url alone
    Ioc(type="url", value="203.0.113.5:8080/a", role="callback"),
    Ioc(type="ip", value="203.0.113.9", role="c2"),
    Ioc(type="domain", value="Pool.Example", role="miner-pool"),
    Ioc(type="sha256", value="CD" * 32, role="download"),
    Ioc(type="wallet", value="4Abc", role="miner-pool"),
    Ioc(type="email", value="a@b.c", role="exfil"),
    Ioc(type="url", value="http://203.0.113.9/bins/mips", role="unknown"),
]

_ZONES = [UTC, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


def _event(
    body: int,
    seconds: int,
    micro: int,
    zone: int,
    sensor: int,
    location: str,
    src: int,
    cves: list[str],
    techniques: list[str],
    rules: list[str],
    iocs: list[int],
) -> Any:
    at = (T0 + timedelta(seconds=seconds, microseconds=micro)).astimezone(_ZONES[zone])
    event = ev(
        _BODIES[body],
        at=at,
        sensor=f"s{sensor}",
        location=location,
        src=f"198.51.100.{src}",
        cves=cves,
        techniques=techniques,
        iocs=[_IOCS[i] for i in iocs],
    )
    event.rules = rules
    return event


events = st.builds(
    _event,
    body=st.integers(0, len(_BODIES) - 1),
    seconds=st.integers(-48 * 3600, 40 * 86400),  # out of order too: older sightings add without decay
    micro=st.integers(0, 999_999),
    zone=st.integers(0, len(_ZONES) - 1),
    sensor=st.integers(0, 2),
    location=st.sampled_from(["eu", "us", ""]),
    src=st.integers(0, 4),
    cves=st.sampled_from([[], [], ["CVE-2021-44228"], ["CVE-2017-17215", "CVE-2023-1389", "CVE-1", "CVE-2"]]),
    techniques=st.sampled_from([[], [], ["T1595"], ["T1595", "T1046"], ["T1190"], ["T1595", "T1190"]]),
    rules=st.sampled_from([[], ["r1"], ["r1", "r2", "r3", "r4"]]),
    iocs=st.lists(st.integers(0, len(_IOCS) - 1), max_size=4),
)


def snapshot(book: IndicatorBook) -> Any:
    """Everything the fold wrote, float types included (an int where a float was would show)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return ("float", value)
        if isinstance(value, msgspec.Struct):
            return (type(value).__name__, {k: plain(v) for k, v in msgspec.structs.asdict(value).items()})
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}, list(value)
        if isinstance(value, list | tuple):
            return type(value).__name__, [plain(v) for v in value]
        return value

    return (
        {t: {v: plain(book._record(e)) for v, e in by_value.items()} for t, by_value in book._entries.items()},
        [(e.type, e.value) for e in book._touched],
        book._evidence_seq,
        dict(book._sources),
    )


def _pair() -> tuple[IndicatorBook, IndicatorBook]:
    assert NATIVE_AVAILABLE or os.environ.get("CI") != "true"
    return IndicatorBook(PARAMS), IndicatorBook(PARAMS, native=False)


@settings(max_examples=300, deadline=None)
@given(
    steps=stepped(events, most_events=50, largest_step=12, most_steps=10), now=hours_after(T0), kept=st.integers(1, 4)
)
def test_the_native_fold_is_the_python_fold(steps: list[list[Any]], now: datetime, kept: int) -> None:
    native, python = _pair()
    for book in (native, python):  # a small heap: the replace and skip paths run often
        book._evidence_kept = kept
    for step in steps:
        assert native.observe_events(step) == python.observe_events(step) == len(step)
        assert snapshot(native) == snapshot(python)
        assert native.take_touched(now) == python.take_touched(now)
    assert native.indicators(now) == python.indicators(now)
    assert snapshot(native) == snapshot(python)


@settings(max_examples=150, deadline=None)
@given(
    steps=stepped(events, most_events=40, largest_step=12, most_steps=8),
    now=hours_after(T0),
    floor=st.integers(0, 101),
)
def test_take_touched_asks_wanted_the_same_questions(steps: list[list[Any]], now: datetime, floor: int) -> None:
    """The native candidates (the confidence bound, computed in C) ask ``wanted`` exactly what the
    Python loop asks, in the same order, and the same indicators come out."""
    native, python = _pair()
    for step in steps:
        asked: list[list[tuple[str, str, int]]] = [[], []]
        taken = []
        for number, book in enumerate((native, python)):
            book.observe_events(step)

            def wanted(type_: str, value: str, confidence: int, log: list[Any] = asked[number]) -> bool:
                log.append((type_, value, confidence))
                return confidence >= floor

            taken.append(book.take_touched(now, wanted, evidence=bool(number % 2) or floor % 2 == 0))
        assert asked[0] == asked[1]
        assert [i.id for i in taken[0]] == [i.id for i in taken[1]]
        assert [(i.confidence, i.state, i.sightings) for i in taken[0]] == [
            (i.confidence, i.state, i.sightings) for i in taken[1]
        ]
        assert snapshot(native) == snapshot(python)


def test_without_evidence_only_the_evidence_is_left_out() -> None:
    stream = [ev(SshLogin(username="u", method="password"), at=T0 + timedelta(minutes=i)) for i in range(5)]
    full, bare = IndicatorBook(PARAMS), IndicatorBook(PARAMS)
    for book in (full, bare):
        book.observe_events(stream)
    now = T0 + timedelta(hours=1)
    with_evidence = full.take_touched(now, lambda *_: True)
    without = bare.take_touched(now, lambda *_: True, evidence=False)
    assert [i.evidence for i in without] == [[]] and len(with_evidence[0].evidence) == 5
    assert [msgspec.structs.replace(i, evidence=[]) for i in with_evidence] == without


def test_the_ingest_benchmarks_events_fold_alike() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ingest.py"
    spec = importlib.util.spec_from_file_location("bench_ingest_for_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from honeyguard.clock import SeededEntropy
    from honeyguard.model import UuidV7Factory

    ids = UuidV7Factory(SeededEntropy(42))
    stream = [bench._event(ids, T0 + timedelta(microseconds=i * 20), i) for i in range(4000)]
    native, python = _pair()
    for step in range(0, len(stream), 500):
        native.observe_events(stream[step : step + 500])
        python.observe_events(stream[step : step + 500])
    assert snapshot(native) == snapshot(python)
    now = T0 + timedelta(days=3)
    assert native.take_touched(now) == python.take_touched(now)


def test_names_shared_by_the_native_fold_stay_bounded() -> None:
    """Each sensor and location name is kept once (the evidence shares it), up to a bound: a stream
    of ever new locations folds the same, without a table growing with it."""
    stream = [
        ev(
            SshLogin(username="u", method="password"),
            at=T0 + timedelta(seconds=i),
            sensor="".join(("s", "1")),  # a new copy of the name in every event, as decoding makes
            location=f"site-{i}",
        )
        for i in range(5000)
    ]
    native, python = _pair()
    for book in (native, python):
        book.observe_events(stream)
    assert snapshot(native) == snapshot(python)
    assert len(native._names) <= 4096 and len(python._names) == 0
    if NATIVE_AVAILABLE:
        kept = [item[5] for entry in native._entries["ip"].values() for item in native._record(entry).evidence]
        assert len({id(name) for name in kept}) == 1  # one sensor name, shared by every item


def test_feed_and_allowlist_between_native_folds() -> None:
    native, python = _pair()
    stream = [
        ev(SshLogin(username="u", method="password"), at=T0 + timedelta(minutes=i), src="198.51.100.1")
        for i in range(30)
    ]
    for book in (native, python):
        book.observe_feed(type_="ip", value="198.51.100.1", role="bruteforcer", confidence=60, source="f", at=T0)
        book.observe_events(stream[:10])
        book.allowlist("ip", "198.51.100.1", T0)
        book.observe_events(stream[10:])
    assert snapshot(native) == snapshot(python)


class _Text(str):
    """A str subclass: never taken for the book's shared copy of a name, still equal to it."""


class _Odd:
    """Duck-typed events with wrong field types: both folds raise, neither crashes."""

    def __init__(self, **fields: Any) -> None:
        base = msgspec.structs.asdict(ev(SshLogin(username="u", method="password")))
        base.update(fields)
        self.__dict__.update(base)


@pytest.mark.parametrize(
    "bad",
    [
        object(),
        None,
        1,
        _Odd(cves=None),
        _Odd(cves=[1]),
        _Odd(iocs=5),
        _Odd(iocs=[object()]),
        _Odd(kind=[]),
        _Odd(body=Connect()),
        _Odd(ts="yesterday"),
        _Odd(ts=datetime(2026, 5, 1)),  # naive: Python's timestamp() reads it as local time
        _Odd(sensor=None),
        _Odd(sensor=5, location=7.5),  # keys that are not text: found as a dict finds them
        _Odd(sensor=_Text("s1"), location=_Text("eu")),
        _Odd(kind="http.request", techniques=[[1]]),
    ],
)
def test_odd_inputs_raise_as_the_python_fold_does(bad: Any) -> None:
    native, python = _pair()
    outcomes = []
    for book in (native, python):
        try:
            book.observe_events([ev(Connect()), bad])
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]
    assert snapshot(native) == snapshot(python)


def test_native_observe_refuses_what_is_not_a_book() -> None:
    native = book_module._native
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    with pytest.raises((TypeError, AttributeError)):
        native.observe(object(), [])
    with pytest.raises(TypeError):
        native.observe(IndicatorBook(PARAMS), 5)
    with pytest.raises(TypeError):
        native.observe(IndicatorBook(PARAMS))
    with pytest.raises(TypeError):
        native.candidates((), 1.0, print)
    with pytest.raises(TypeError):
        native.candidates([], 1, print)
    with pytest.raises(TypeError):  # only the native records
        native.candidates([object()], 1.0, print)
    with pytest.raises(ZeroDivisionError):  # whatever wanted raises comes out
        native.candidates(IndicatorBook(PARAMS)._touched or _touched_entries(), 1.0, lambda *_: 1 / 0)


def test_large_sets_fold_alike() -> None:
    """Past a handful of sensors, locations, sources, CVEs and techniques a record's sets are
    indexed: what they hold, and in which order, stays the Python fold's."""
    stream = []
    for i in range(400):
        event = ev(
            HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[]),
            at=T0 + timedelta(seconds=(i * 7919) % 400),  # out of order
            sensor=f"s{i % 13}",
            location=f"l{i % 11}",
            src=f"198.51.100.{i % 2}",
            cves=[f"CVE-2024-{i % 17}", f"CVE-2023-{i % 5}"],
            techniques=[f"T{1000 + i % 12}"],
            iocs=[Ioc(type="url", value=f"http://203.0.113.{i % 3}/x", role=("download", "c2", "callback")[i % 3])],
        )
        stream.append(event)
    native, python = _pair()
    for book in (native, python):
        book._evidence_kept = 7
        book.observe_feed(type_="ip", value="198.51.100.1", role="scanner", confidence=40, source="f1", at=T0)
        book.observe_events(stream[:200])
        for n in range(10):
            book.observe_feed(type_="ip", value="198.51.100.1", role="c2", confidence=50, source=f"f{n}", at=T0)
        book.observe_events(stream[200:])
    assert snapshot(native) == snapshot(python)
    now = T0 + timedelta(hours=2)
    assert native.indicators(now) == python.indicators(now)
    assert len(python.get("ip", "198.51.100.1", now).sensors) == 13  # type: ignore[union-attr]


def test_a_native_record_reads_as_the_python_one() -> None:
    native = book_module._native
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    entry = native.Entry("ip", "198.51.100.7", T0)
    record = entry.record()
    assert (record.type, record.value, record.first_seen, record.last_seen, record.sightings) == (
        "ip",
        "198.51.100.7",
        T0,
        T0,
        0,
    )
    assert (record.roles, record.cves, record.tallies, record.evidence, record.weights) == ({}, None, {}, [], 0.0)
    entry.allowlisted, entry.touched, entry.id = 1, True, "x"
    assert (entry.allowlisted, entry.touched, entry.id) == (True, True, "x")
    assert entry.record(False).allowlisted is True
    with pytest.raises(AttributeError):
        entry.value = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del entry.touched
    with pytest.raises(TypeError):
        entry.record(True, True)


def test_the_evidence_left_out_of_a_record_is_only_the_evidence() -> None:
    native, _ = _pair()
    logins = [ev(SshLogin(username="u", method="password"), at=T0 + timedelta(minutes=i)) for i in range(3)]
    native.observe_events(logins)
    (entry,) = native._entries["ip"].values()
    whole, bare = native._record(entry), native._record(entry, evidence=False)
    assert len(whole.evidence) == 3 and msgspec.structs.replace(whole, evidence=[]) == bare


class _Reentrant(datetime):
    """A time whose comparison folds into the book it is being folded into."""

    book: IndicatorBook | None = None

    def __eq__(self, other: object) -> bool:
        book, _Reentrant.book = _Reentrant.book, None
        if book is not None:
            book.observe_feed(type_="ip", value="1.2.3.4", role="c2", confidence=90, source="f2", at=T0)
        return datetime.__eq__(self, other)

    __hash__ = datetime.__hash__


def test_a_fold_reentered_from_code_it_runs_is_refused_not_corrupted() -> None:
    """Python code run by a comparison may not fold into the same book (it would move the records
    the fold is in the middle of): a RuntimeError, and the book stays usable."""
    book = IndicatorBook(PARAMS)
    if book._native is None:
        assert os.environ.get("CI") != "true"
        return
    for hour in range(3):  # equal strengths: the next one compares times
        at = _Reentrant(2026, 5, 1, hour, tzinfo=UTC)
        book.observe_feed(type_="ip", value="1.2.3.4", role="c2", confidence=50, source="f1", at=at)
    _Reentrant.book = book
    with pytest.raises(RuntimeError, match="re-entered"):
        at = _Reentrant(2026, 5, 1, 3, tzinfo=UTC)
        book.observe_feed(type_="ip", value="1.2.3.4", role="c2", confidence=50, source="f1", at=at)
    book.observe_feed(type_="ip", value="1.2.3.4", role="c2", confidence=50, source="f1", at=T0)
    found = book.get("ip", "1.2.3.4", T0 + timedelta(hours=4))
    assert found is not None and found.sightings == 5
    entry = book._entries["ip"]["1.2.3.4"]
    with pytest.raises(TypeError):
        entry.id = entry  # nothing that could refer back to it


@pytest.mark.parametrize("strength", [float("nan"), -0.1, 1.5])
def test_strengths_out_of_range_are_refused(strength: float) -> None:
    params = msgspec.structs.replace(PARAMS, strength={"exploit": strength})
    with pytest.raises(ValueError, match="exploit"):
        IndicatorBook(params)


def test_whole_number_strengths_fold_as_floats_in_both_folds() -> None:
    params = msgspec.structs.replace(PARAMS, strength={"bruteforce": 1})
    native, python = IndicatorBook(params), IndicatorBook(params, native=False)
    stream = [ev(SshLogin(username="u", method="password"), at=T0 + timedelta(minutes=i)) for i in range(3)]
    for book in (native, python):
        book.observe_events(stream)
    assert snapshot(native) == snapshot(python)


def _touched_entries() -> list[Any]:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(SshLogin(username="u", method="password"))])
    return list(book._touched)
