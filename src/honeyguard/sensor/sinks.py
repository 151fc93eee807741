"""Event sinks other than the durable spool: in memory (tests, `detect`), and fan-out."""

from __future__ import annotations

import threading

from honeyguard.model import Event


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
