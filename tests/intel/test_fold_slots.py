"""The native fold reads record fields in their slots only where Python's generic getattr would do
exactly that: a record type with its own attribute access, a type changed since, or a descriptor
borrowed by another class is asked through Python, and the book still comes out as the Python
fold's."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from honeyguard.intel.book import NATIVE_AVAILABLE, IndicatorBook
from honeyguard.model import Event, HttpRequest, Ioc, SshLogin
from tests.intel.test_fold_native import PARAMS, T0, snapshot
from tests.intel.test_indicator_book import ev

ASKED: list[str] = []


class LoggedEvent(Event):
    """An event whose attribute reads go through Python code (its type's getattro is not the generic one)."""

    def __getattribute__(self, name: str) -> Any:
        ASKED.append(name)
        return super().__getattribute__(name)


def _stream() -> list[Event]:
    probe = HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[])
    iocs = [Ioc(type="url", value="http://203.0.113.9/x.sh", role="download")]
    events = [
        ev(probe, at=T0 + timedelta(minutes=i), src=f"198.51.100.{i % 3}", cves=["CVE-2023-1389"], iocs=iocs)
        for i in range(6)
    ]
    events += [ev(SshLogin(username="root", method="password"), at=T0 + timedelta(minutes=i)) for i in range(4)]
    return events


def _logged(event: Event) -> LoggedEvent:
    fields = {name: getattr(event, name) for name in event.__struct_fields__}
    return LoggedEvent(**fields)


def test_an_event_type_with_its_own_getattr_is_asked_through_python() -> None:
    assert NATIVE_AVAILABLE or os.environ.get("CI") != "true"
    stream = _stream()
    native, python = IndicatorBook(PARAMS), IndicatorBook(PARAMS, native=False)
    ASKED.clear()
    native.observe_events([_logged(e) for e in stream])
    python.observe_events(stream)
    assert snapshot(native) == snapshot(python)
    if NATIVE_AVAILABLE:  # the native fold read the fields through LoggedEvent's own getattr
        assert {"kind", "src_ip", "sensor", "ts"} <= set(ASKED)


def test_plain_and_logged_events_fold_alike_in_turn() -> None:
    """The same field of two types read in turn (the remembered slot of one never serves the other)."""
    stream = _stream()
    mixed = [_logged(e) if i % 2 else e for i, e in enumerate(stream)]
    native, python = IndicatorBook(PARAMS), IndicatorBook(PARAMS, native=False)
    for step in (mixed[:5], mixed[5:]):
        native.observe_events(step)
        python.observe_events(step)
        assert snapshot(native) == snapshot(python)
    now = T0 + timedelta(hours=1)
    assert native.take_touched(now) == python.take_touched(now)


class Borrowed:
    """A class holding Event's descriptors for 'kind' and 'src_ip' without Event's layout: Python's
    member descriptor refuses to read them from it (TypeError), and so must the native fold."""

    __slots__ = ()
    kind = Event.__dict__["kind"]
    src_ip = Event.__dict__["src_ip"]


def test_a_descriptor_copied_into_another_class_is_never_read_at_its_offset() -> None:
    if not NATIVE_AVAILABLE:  # (the Python fold reads through getattr: nothing to hold)
        return
    book = IndicatorBook(PARAMS)
    try:
        book.observe_events([Borrowed()])  # type: ignore[list-item]
    except (TypeError, AttributeError):
        pass  # as Python's getattr answers it: the fold read through Python, not at Event's offset
    else:
        raise AssertionError("a foreign layout was read as an Event")
