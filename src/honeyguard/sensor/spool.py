"""The sensor's durable spool: every event lands in a local SQLite file until the collector
acknowledges it, so a crash of either side (or no collector at all) loses nothing.

``emit`` only appends to an in-memory buffer (the event loop never waits on the disk); a
flusher thread writes the buffer in one transaction every ``flush_interval`` or every
``batch_size`` events. If the disk stalls, the buffer grows up to ``max_buffered`` events and
only past that are events dropped, counted in ``dropped`` and logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec

from honeyguard.model import Event, encode_event

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS spool (id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID"
_DROP_LOG_EVERY = 10_000


class Spooled(msgspec.Struct, frozen=True):
    """One stored event: its id and its encoded JSON."""

    id: str
    body: bytes


class Spool:
    """An EventSink that keeps events on disk until ``ack``; thread-safe."""

    def __init__(self, path: Path | str, *, batch_size: int = 1000, flush_interval: float = 0.5,
                 max_buffered: int = 500_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.dropped = 0
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a process crash; fsync at checkpoints
        self._db.execute(_SCHEMA)
        self._db_lock = threading.Lock()
        self._buffer: list[tuple[str, bytes]] = []
        self._wake = threading.Condition(threading.Lock())
        self._closing = False
        self._closed = False
        self._flusher = threading.Thread(target=self._flush_loop, name="spool-flusher", daemon=True)
        self._flusher.start()

    # -- the sink side (event loop thread) ------------------------------------------------

    def emit(self, event: Event) -> None:
        record = (event.id, encode_event(event))
        with self._wake:
            if len(self._buffer) >= self.max_buffered or self._closed:
                self._count_drop()
                return
            self._buffer.append(record)
            if len(self._buffer) >= self.batch_size:
                self._wake.notify()

    def _count_drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % _DROP_LOG_EVERY == 0:
            log.error("spool overflow: the disk is not keeping up; %d events dropped so far", self.dropped)

    @property
    def buffered(self) -> int:
        """Events emitted but not yet written to disk."""
        with self._wake:
            return len(self._buffer)

    def _flush_loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closing or len(self._buffer) >= self.batch_size,
                                    timeout=self.flush_interval)
                closing = self._closing
            try:
                self.flush()
            except sqlite3.Error:  # a full or failing disk: keep the events buffered, try again
                log.exception("spool write failed; %d events kept in memory", self.buffered)
                if closing:
                    return
            if closing:
                return

    def flush(self) -> int:
        """Write everything buffered now; returns how many events were written."""
        with self._db_lock:
            with self._wake:
                records, self._buffer = self._buffer, []
            if not records:
                return 0
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR IGNORE INTO spool (id, body) VALUES (?, ?)", records)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                with self._wake:  # put them back in front, in order
                    self._buffer[:0] = records
                raise
            return len(records)

    def close(self) -> None:
        """Stop the flusher and write every buffered event; later emits are counted as dropped."""
        if self._closed:
            return
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._flusher.join()
        with self._wake:
            self._closed = True
        self.flush()
        with self._db_lock:
            self._db.close()
        if self.dropped:
            log.error("spool closed with %d events dropped by overflow", self.dropped)

    # -- the shipper side -------------------------------------------------------------------

    def next_batch(self, limit: int) -> list[Spooled]:
        """The oldest ``limit`` events not yet acknowledged, in id order."""
        with self._db_lock:
            rows = self._db.execute("SELECT id, body FROM spool ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [Spooled(id=row[0], body=bytes(row[1])) for row in rows]

    def ack(self, ids: Sequence[str]) -> None:
        """The collector has stored these: forget them."""
        with self._db_lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")

    def pending(self) -> int:
        """Events on disk waiting for the collector."""
        with self._db_lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])
