"""The DuckDB event store: one writer process, idempotent insert on event id, filtered queries.

Each Event's fields are columns (for SQL over events) and ``raw`` keeps the full encoded JSON
(what queries hand back, without decoding and re-encoding). Duplicates are dropped by an
anti-join restricted to the batch's id range: ids are time-ordered UUIDv7, so DuckDB's zone
maps skip the row groups that cannot hold them, and no in-memory index grows with the table
(a PRIMARY KEY's ART index would, and measured slower at 100k events/s).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import msgspec
import pyarrow as pa

from honeyguard.errors import StoreError
from honeyguard.model import Event, Ioc, canonical_uuids
from honeyguard.store.duckc import ATTACHED, Connection, Database, DuckError

_IOC = pa.struct([("type", pa.string()), ("value", pa.string()), ("role", pa.string())])

#: The columns in table order, with their Arrow types (the DuckDB DDL follows from them).
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("sensor", pa.string()),
        ("location", pa.string()),
        ("session", pa.string()),
        ("kind", pa.string()),
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("protocol", pa.string()),
        ("persona", pa.string()),
        ("body", pa.string()),  # the kind-specific body as JSON text
        ("rules", pa.list_(pa.string())),
        ("cves", pa.list_(pa.string())),
        ("techniques", pa.list_(pa.string())),
        ("iocs", pa.list_(_IOC)),
        ("raw", pa.string()),  # the whole event, encoded JSON
    ]
)

# from_events unpacks Event fields by position: they must stay in the table's column order.
if Event.__struct_fields__ != tuple(SCHEMA.names[:-1]):  # pragma: no cover - a model change
    raise ImportError("Event's fields no longer match the events table's columns (store/events.py)")

_TABLE = f"{ATTACHED}.events"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    id UUID NOT NULL, ts TIMESTAMPTZ NOT NULL, sensor VARCHAR NOT NULL, location VARCHAR,
    session VARCHAR, kind VARCHAR NOT NULL, src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR,
    dst_port INTEGER, protocol VARCHAR, persona VARCHAR, body VARCHAR,
    rules VARCHAR[], cves VARCHAR[], techniques VARCHAR[],
    iocs STRUCT(type VARCHAR, value VARCHAR, role VARCHAR)[], raw VARCHAR NOT NULL
)
"""

# ids arrive as text and are stored as UUID: 16 bytes, and exact min/max per row group, which is
# what lets the range below skip all but the newest row groups (text statistics keep only a prefix).
_INSERT = f"""
INSERT INTO {_TABLE} BY NAME
SELECT * REPLACE (CAST(id AS UUID) AS id) FROM incoming
WHERE CAST(id AS UUID) NOT IN
    (SELECT id FROM {_TABLE} WHERE id BETWEEN CAST(? AS UUID) AND CAST(? AS UUID))
RETURNING CAST(id AS VARCHAR)
"""

# The same insert for a batch received as JSON text (``EventBatch.from_received``): DuckDB lays out
# the columns from each event's JSON itself, in C++ and without Python's GIL, instead of Python
# building them from the decoded Events (which measured a quarter of the collector's GIL time).
# The Events were decoded and validated already; strict parsing (every key present, numbers in
# range) and the checks below make any text they would read differently (a repeated key, a
# timestamp past microseconds, an omitted default) fail here, and the insert then falls back to
# columns built from the Events.
_RECEIVED_SHAPE = (
    '{"id":"VARCHAR","ts":"VARCHAR","sensor":"VARCHAR","location":"VARCHAR","session":"VARCHAR",'
    '"kind":"VARCHAR","src_ip":"VARCHAR","src_port":"INTEGER","dst_ip":"VARCHAR","dst_port":"INTEGER",'
    '"protocol":"VARCHAR","persona":"VARCHAR","body":"JSON","rules":"VARCHAR[]","cves":"VARCHAR[]",'
    '"techniques":"VARCHAR[]","iocs":[{"type":"VARCHAR","value":"VARCHAR","role":"VARCHAR"}]}'
)
_TS_TEXT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)"
_INSERT_RECEIVED = f"""
INSERT INTO {_TABLE} BY NAME
SELECT CAST(id AS UUID) AS id, CAST(j.ts AS TIMESTAMPTZ) AS ts, sensor, j.location, j.session, j.kind,
    j.src_ip, j.src_port, j.dst_ip, j.dst_port, j.protocol, j.persona, CAST(j.body AS VARCHAR) AS body,
    j.rules, j.cves, j.techniques, j.iocs,
    CASE WHEN j.id = id AND j.sensor = sensor AND regexp_full_match(j.ts, '{_TS_TEXT}') THEN raw
         ELSE error('the event text reads differently from the decoded event') END AS raw
FROM (SELECT id, sensor, raw, json_transform_strict(raw, '{_RECEIVED_SHAPE}') AS j FROM incoming)
WHERE CAST(id AS UUID) NOT IN
    (SELECT id FROM {_TABLE} WHERE id BETWEEN CAST(? AS UUID) AND CAST(? AS UUID))
RETURNING CAST(id AS VARCHAR)
"""

_UPDATE_LABELS = f"""
UPDATE {_TABLE} AS e SET rules = r.rules, cves = r.cves, techniques = r.techniques, iocs = r.iocs, raw = r.raw
FROM relabelled AS r WHERE e.id = CAST(r.id AS UUID)
"""

# Checkpoints compress with zstd: measured about 1.6x less CPU per event than the default
# analysis (FSST, dictionary...) on event JSON, and a file less than half the size.
# Checkpointing every default 16 MB of WAL rewrites half-filled row groups again and again;
# a larger WAL measured about twice the sustained insert rate.
_WAL_AUTOCHECKPOINT = "256MB"
_ZSTD = "SET force_compression = 'zstd'"

_encoder = msgspec.json.Encoder()


class InsertResult(msgspec.Struct, frozen=True):
    accepted: int
    duplicates: int
    new_ids: frozenset[str] | None = None  # the ids stored by this insert; None when all were new


class EventQuery(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime | None = None
    until: datetime | None = None
    sensor: str | None = None
    kind: str | None = None
    src_ip: str | None = None
    after: str | None = None  # an event id: only events with a greater id
    limit: int = 100


class EventPage(msgspec.Struct, frozen=True):
    """Encoded events in id order; ``next`` is the cursor for the following page, None at the end."""

    raws: list[str]
    next: str | None


#: A batch as received: each event's id and sensor (as decoded) and its JSON text.
RECEIVED_SCHEMA = pa.schema([("id", pa.string()), ("sensor", pa.string()), ("raw", pa.string())])


class EventBatch:
    """Decoded events ready for one insert, without duplicate ids inside the batch: an Arrow
    table in the store's schema (``from_events``), or in RECEIVED_SCHEMA (``from_received``)."""

    def __init__(
        self, table: pa.Table, submitted: int, events: Sequence[Event] = (), id_range: tuple[str, str] | None = None
    ) -> None:
        self.table = table
        self.submitted = submitted  # events received, duplicates within the batch included
        self.events = events  # the decoded events, one per row (for consumers after the commit)
        self._id_range = id_range

    @property
    def id_range(self) -> tuple[str, str]:
        """The smallest and largest id (text), given when the batch was built or read from the
        table. Given, the writer thread needs no Arrow call (each one released the GIL and
        waited to take it back behind the decoding thread)."""
        if self._id_range is None:
            self._id_range = _id_range(self.table.column("id").to_pylist())
        return self._id_range

    @classmethod
    def from_events(cls, events: Sequence[Event], raws: Sequence[bytes] | pa.Array | None = None) -> EventBatch:
        """``raws``: each event's encoded JSON as received, as lines or a string column (saves
        encoding it again), or None."""
        submitted = len(events)
        events, raws = _unique(events, raws)
        if not events:
            return cls(SCHEMA.empty_table(), submitted, events)
        # One pass over the events (astuple is C), then one list per field: cheaper than a
        # getattr comprehension per column.
        (
            ids,
            ts,
            sensor,
            location,
            session,
            kind,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            protocol,
            persona,
            bodies,
            rules,
            cves,
            techniques,
            iocs,
        ) = zip(*map(msgspec.structs.astuple, events), strict=True)
        columns = [
            pa.array(ids, pa.string()),
            pa.array(ts, SCHEMA.field("ts").type),
            *(pa.array(values, pa.string()) for values in (sensor, location, session, kind, src_ip)),
            pa.array(src_port, pa.int32()),
            pa.array(dst_ip, pa.string()),
            pa.array(dst_port, pa.int32()),
            pa.array(protocol, pa.string()),
            pa.array(persona, pa.string()),
            _json_lines(bodies),
            *(pa.array(values, pa.list_(pa.string())) for values in (rules, cves, techniques)),
            _ioc_lists(iocs),
            _json_lines(events) if raws is None else raws if isinstance(raws, pa.Array) else _text(raws),
        ]
        return cls(pa.Table.from_arrays(columns, schema=SCHEMA), submitted, events, _id_range(ids))

    @classmethod
    def from_received(cls, events: Sequence[Event], raws: Sequence[bytes] | pa.Array | None) -> EventBatch:
        """Events with the JSON text they were decoded from: the store builds the columns from the
        text (see _INSERT_RECEIVED). Without the text, the columns are built here."""
        if raws is None:
            return cls.from_events(events)
        submitted = len(events)
        events, raws = _unique(events, raws)
        assert raws is not None
        if not events:
            return cls(SCHEMA.empty_table(), submitted, events)
        ids = [e.id for e in events]
        columns = [
            pa.array(ids, pa.string()),
            pa.array([e.sensor for e in events], pa.string()),
            raws if isinstance(raws, pa.Array) else _text(raws),
        ]
        return cls(pa.Table.from_arrays(columns, schema=RECEIVED_SCHEMA), submitted, events, _id_range(ids))

    @property
    def received(self) -> bool:
        """Whether the table is in RECEIVED_SCHEMA (the store lays out the columns)."""
        return bool(self.table.schema.equals(RECEIVED_SCHEMA))

    def laid_out(self) -> EventBatch:
        """The same batch with its columns built from the Events (the raw text kept as received)."""
        if not self.received:
            return self
        batch = EventBatch.from_events(self.events, self.table.column("raw").combine_chunks())
        return EventBatch(batch.table, self.submitted, self.events, self._id_range)


def _id_range(ids: Sequence[str]) -> tuple[str, str]:
    """The batch's smallest and largest id as UUIDs, as text: the duplicate check looks for
    stored ids between them. Canonical ids (what ingest accepts) sort as text the way they sort
    as UUIDs; others are ordered by their UUID value, so none escapes the range."""
    if canonical_uuids(ids):
        return min(ids), max(ids)
    try:
        ordered = sorted(ids, key=lambda value: uuid.UUID(value).int)
    except ValueError:  # not UUIDs: the insert refuses them
        return min(ids), max(ids)
    return ordered[0], ordered[-1]


def _unique(
    events: Sequence[Event], raws: Sequence[bytes] | pa.Array | None
) -> tuple[Sequence[Event], Sequence[bytes] | pa.Array | None]:
    """Drop repeated ids inside one batch (a shipper's retry can never cause them, a bug could)."""
    if len({e.id for e in events}) == len(events):
        return events, raws
    seen: set[str] = set()
    keep = [i for i, e in enumerate(events) if not (e.id in seen or seen.add(e.id))]  # type: ignore[func-returns-value]
    if raws is None:
        return [events[i] for i in keep], None
    return [events[i] for i in keep], raws.take(keep) if isinstance(raws, pa.Array) else [raws[i] for i in keep]


def _json_lines(values: Sequence[object]) -> pa.Array:
    """Each value as JSON text, from one encode_lines call rather than one encode per value;
    splitting on newlines is safe because JSON escapes them inside strings."""
    if not values:
        return pa.array([], pa.string())
    return _text(_encoder.encode_lines(values)[:-1].split(b"\n"))


def _text(lines: Sequence[bytes]) -> pa.Array:
    """A string column of UTF-8 ``lines``. Viewing binary as string and validating it measured
    ten times cheaper than ``cast`` (which dominated building the column)."""
    column = pa.array(lines, pa.binary()).view(pa.string())
    try:
        column.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"not UTF-8 text: {exc}") from None
    return column


def _ioc_lists(per_event: Sequence[Sequence[Ioc]]) -> pa.Array:
    """The iocs column built from flat values and offsets (most events carry none)."""
    offsets = [0]
    flat: list[Ioc] = []
    for iocs in per_event:
        if iocs:
            flat.extend(iocs)
        offsets.append(len(flat))
    values = pa.StructArray.from_arrays(
        [
            pa.array([i.type for i in flat], pa.string()),
            pa.array([i.value for i in flat], pa.string()),
            pa.array([i.role for i in flat], pa.string()),
        ],
        fields=list(_IOC),
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=pa.list_(_IOC))


class EventStore:
    """The events table in one DuckDB file. Inserts come from one thread (the collector's
    writer); queries may come from any thread (one at a time, on the reader connection).
    DuckDB is reached through its C API (store/duckc.py): no call waits for Python's GIL."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = Database.open(self.path, read_only=read_only)
        except DuckError as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from None
        opened: list[Connection] = []
        try:
            opened.append(self._db.connect())
            # Reads get their own connection: the writer thread then has ``_con`` to itself.
            opened.append(self._db.connect())
            self._con, self._reader = opened
            if not read_only:
                for statement in (f"SET wal_autocheckpoint = '{_WAL_AUTOCHECKPOINT}'", _ZSTD, _DDL):
                    self._con.execute(statement).close()
        except DuckError as exc:
            for connection in opened:
                connection.close()
            self._db.release()
            raise StoreError(f"cannot open event store {self.path}: {exc}") from None
        self._read_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Close the connections and release the file (the last store of it checkpoints); once."""
        with self._read_lock:
            if self._closed:
                return
            self._closed = True
            self._reader.close()
        self._con.close()
        try:
            self._db.release()
        except DuckError as exc:
            raise StoreError(f"closing event store {self.path}: {exc}") from None

    def insert(self, batch: EventBatch) -> InsertResult:
        """Insert the batch's new events in one transaction; ids already stored are ignored."""
        table = batch.table
        if table.num_rows == 0:
            return InsertResult(0, batch.submitted)
        id_range = batch.id_range
        if batch.received:
            try:
                accepted, new_ids = self._insert(_INSERT_RECEIVED, table, id_range)
            except StoreError:  # text DuckDB reads otherwise than msgspec did: columns from the Events
                table = batch.laid_out().table
                accepted, new_ids = self._insert(_INSERT, table, id_range)
        else:
            accepted, new_ids = self._insert(_INSERT, table, id_range)
        return InsertResult(accepted, batch.submitted - accepted, new_ids)

    def _insert(self, sql: str, table: pa.Table, id_range: tuple[str, str]) -> tuple[int, frozenset[str] | None]:
        """How many rows the insert stored, and their ids (its RETURNING) unless it stored every
        row: reading them back is needed only when some were already stored."""
        lo, hi = id_range
        con = self._con
        try:
            with con.scanning("incoming", table):
                result = con.execute(sql, [lo, hi], keep=True)
                try:
                    accepted = result.row_count
                    if accepted == table.num_rows:
                        return accepted, None
                    return accepted, frozenset(str(i) for i in result.table().column(0).to_pylist())
                finally:
                    result.close()
        except DuckError as exc:
            raise StoreError(f"insert failed: {exc}") from None

    def query(self, query: EventQuery) -> EventPage:
        where, params = _where(query)
        sql = f"SELECT CAST(id AS VARCHAR), raw FROM {_TABLE} {where} ORDER BY id LIMIT {max(1, int(query.limit))}"
        rows = self._read(sql, params)
        full = len(rows) == query.limit
        return EventPage(raws=[raw for _, raw in rows], next=rows[-1][0] if rows and full else None)

    def count(self, *, distinct: bool = False) -> int:
        sql = f"SELECT count(DISTINCT id) FROM {_TABLE}" if distinct else f"SELECT count(*) FROM {_TABLE}"
        return int(self._read(sql, [])[0][0])

    def update_labels(self, events: Sequence[Event]) -> int:
        """Write the labels (rules, CVEs, techniques, IOCs, and the raw JSON) of events already
        stored, matched by id (``honeyguard detect --replay``); returns the rows updated."""
        if not events:
            return 0
        table = EventBatch.from_events(events).table.select(["id", "rules", "cves", "techniques", "iocs", "raw"])
        con = self._con
        try:
            with con.scanning("relabelled", table):
                rows = con.rows(_UPDATE_LABELS)
        except DuckError as exc:
            raise StoreError(f"update failed: {exc}") from None
        return int(rows[0][0]) if rows else 0

    def _read(self, sql: str, params: Sequence[str | None]) -> list[tuple]:  # type: ignore[type-arg]
        with self._read_lock:
            try:
                return self._reader.rows(sql, params)
            except DuckError as exc:
                raise StoreError(f"query failed: {exc}") from None


_PARAM_TYPES = {"id": "UUID", "ts": "TIMESTAMPTZ"}


def _where(query: EventQuery) -> tuple[str, list[str | None]]:
    """The WHERE clause and its parameters, as text (the clause casts each to its column's type)."""
    clauses: list[str] = []
    params: list[str | None] = []
    for column, op, value in (
        ("ts", ">=", query.since),
        ("ts", "<", query.until),
        ("sensor", "=", query.sensor),
        ("kind", "=", query.kind),
        ("src_ip", "=", query.src_ip),
        ("id", ">", query.after),
    ):
        if value is not None:
            clauses.append(f"{column} {op} CAST(? AS {_PARAM_TYPES.get(column, 'VARCHAR')})")
            params.append(value.isoformat() if isinstance(value, datetime) else value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
