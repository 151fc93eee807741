"""Event sinks other than the durable spool: in memory (tests, `detect`), and labelling in batches."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import cast

from honeyguard.model import Event
from honeyguard.sensor.runtime import EventSink, Labeler

log = logging.getLogger(__name__)


class MemorySink:
    """Keeps events in a list; thread-safe to read while a sensor writes."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def emit(self, event: Event) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self._events if kind is None or e.kind == kind]

    def wait_for(self, predicate, timeout: float = 10.0) -> list[Event]:  # type: ignore[no-untyped-def]
        """Block until ``predicate(events)`` is true; return the events. Raises TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._events), timeout):
                raise TimeoutError(f"condition not met in {timeout}s; {len(self._events)} events seen")
            return list(self._events)


class LabellingSink:
    """Labels events a batch at a time, then hands them on to ``sink`` in the order recorded.

    Events wait at most until the end of the event loop's current turn (or until ``batch_size``
    are waiting), so memory stays bounded and nothing waits long; what every request recorded
    in that turn costs is one ``label_many`` call, which matches them database by database
    (detect/sensorapi.py) instead of one by one with cold caches. Nothing on the request path
    needs the labels: the persona's answer is chosen from the request alone.
    """

    def __init__(self, labeler: Labeler, sink: EventSink, *, batch_size: int = 256) -> None:
        self._label_many = batch_labelling(labeler)
        self._label_one = labeler.label
        self._sink = sink
        self.batch_size = batch_size
        self._pending: list[Event] = []
        self._scheduled = False

    def emit(self, event: Event) -> None:
        pending = self._pending
        pending.append(event)
        if len(pending) >= self.batch_size:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop (a script, a test): label at once
                self.flush()
                return
            self._scheduled = True
            loop.call_soon(self._flush_scheduled)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Label and hand on every waiting event (the sensor calls this last when it stops)."""
        while self._pending:
            events, self._pending = self._pending, []
            for event in self._labelled(events):
                try:
                    self._sink.emit(event)
                except Exception:  # one event the sink refuses must not take the rest of the batch
                    log.exception("the sink failed to take event %s", event.id)

    def _labelled(self, events: list[Event]) -> list[Event]:
        try:
            return self._label_many(events)
        except Exception:  # a detection bug must never lose events: label them one by one
            log.exception("labelling a batch of %d events failed", len(events))
        out = []
        for event in events:
            try:
                out.append(self._label_one(event))
            except Exception:
                log.exception("labeling failed for event %s", event.id)
                out.append(event)
        return out


def batch_labelling(labeler: Labeler) -> Callable[[list[Event]], list[Event]]:
    """``labeler.label`` over a list, in one batched call when detection offers one."""
    label_many = getattr(labeler, "label_many", None)
    if callable(label_many):
        return cast(Callable[[list[Event]], list[Event]], label_many)
    from honeyguard.detect.labeler import RuleLabeler  # here: detection is loaded only when used
    from honeyguard.detect.sensorapi import BatchLabeler

    if isinstance(labeler, RuleLabeler):
        return BatchLabeler(labeler).label_many
    return lambda events: [labeler.label(event) for event in events]
