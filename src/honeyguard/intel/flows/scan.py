"""The one pass over the raw flow files.

Every record is read once. Each line gets a status (ok, header, wrong field count, NODATA, ...);
OK records are folded, by source, destination, service port and direction, into a small table
``pre``, which is then oriented client -> server into *conversations* (``conv``): client, server,
service port, protocol, with counts, bytes and times. Everything else runs on that much smaller
table. Rejected traffic from outside is only counted: it is internet background noise and would
otherwise dominate the table.

The pass is the whole cost of a run, so its projection is kept lean: the status is a small integer
decided by one CASE whose first branch is all a well-formed line evaluates, addresses are not
inspected per record (the distinct addresses are validated after the scan), and the group keys are
NULLed once for every line that is not analysed.

Where the native reader is built (``native.py``, ``_fastscan.c``), it folds the well-formed records
itself and this SQL reads only the lines it leaves over. When those hold no analysed record (the
usual case) ``conv``, ``addr`` and ``edges`` come straight from the native conversations
(``native_tables.py``); otherwise both parts are summed into ``pre`` and the SQL goes on from there.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import Future
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from honeyguard.intel.flows import native, native_tables
from honeyguard.intel.flows.addresses import build_addresses
from honeyguard.intel.flows.cidrs import Network, maybe_internal_sql
from honeyguard.intel.flows.files import GLOB_CHARS, read_csv_sql
from honeyguard.intel.flows.queries import EDGES_SQL
from honeyguard.intel.flows.settings import FlowSettings

# Line statuses; ``pre.status`` holds the index (a small integer is the cheapest grouping key).
# "ok" records are analysed; "inbound_rejected" ones are OK records that are only counted.
STATUSES = (
    "ok",
    "inbound_rejected",
    "header",
    "wrong_field_count",
    "nodata",
    "skipdata",
    "unsupported_version",
    "missing_field",
    "bad_value",
)
CODE = {name: code for code, name in enumerate(STATUSES)}
_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)
# The numeric fields the analysis uses ("end" is not: a flow's time is its start).
_NUMERIC = ("srcport", "dstport", "protocol", "packets", "bytes", "start")
_TEXT = ("version", "srcaddr", "dstaddr", "action", "log_status", "extra")  # kept as read


def _looks_like_address(column: str) -> str:
    return f"(contains({column}, '.') OR contains({column}, ':'))"


def _typed_sql(source: str) -> str:
    """Every field is read as text (a bad value is counted, never fatal); the numbers are typed here."""
    columns = ", ".join(f'"{name}" AS raw_{name}, TRY_CAST("{name}" AS BIGINT) AS {name}' for name in _NUMERIC)
    return f"(SELECT {', '.join(_TEXT)}, {columns} FROM {source})"


def _status_sql(internal: list[Network]) -> str:
    """The status code of a line. A well-formed line evaluates the first branch only (CASE evaluates
    the others just for the lines that fall through). Accepted records keep their addresses
    unchecked here: the distinct addresses are validated after the scan and a record with an invalid
    one is counted as bad_value then. The range test that drops rejected traffic from outside runs
    on rejected records only."""
    present = " AND ".join(f"{name} IS NOT NULL" for name in _NUMERIC)
    dash = " OR ".join(f"{name} = '-'" for name in ("srcaddr", "dstaddr", "action", *(f"raw_{n}" for n in _NUMERIC)))
    client = "(CASE WHEN fc THEN srcaddr ELSE dstaddr END)"
    server = "(CASE WHEN fc THEN dstaddr ELSE srcaddr END)"
    return f"""
      CASE
        WHEN version = '2' AND log_status = 'OK' AND extra IS NULL AND action IN ('ACCEPT', 'REJECT')
             AND {present} AND srcaddr <> '-' AND dstaddr <> '-' THEN
          CASE WHEN action = 'ACCEPT' THEN {CODE["ok"]}
               WHEN {maybe_internal_sql(client, internal)} THEN {CODE["ok"]}
               WHEN {_looks_like_address(client)} AND {_looks_like_address(server)}
                 THEN {CODE["inbound_rejected"]}
               ELSE {CODE["bad_value"]} END
        WHEN version = 'version' THEN {CODE["header"]}
        WHEN extra IS NOT NULL OR log_status IS NULL THEN {CODE["wrong_field_count"]}
        WHEN log_status = 'NODATA' THEN {CODE["nodata"]}
        WHEN log_status = 'SKIPDATA' THEN {CODE["skipdata"]}
        WHEN version <> '2' THEN {CODE["unsupported_version"]}
        WHEN {dash} THEN {CODE["missing_field"]}
        ELSE {CODE["bad_value"]}
      END"""


def pre_aggregate_sql(
    source: str, settings: FlowSettings, internal: list[Network], beacon_targets: str | None, table: str = "pre"
) -> str:
    """CREATE ``table`` (``pre``): one row per status for the lines that are not analysed, and per
    (src, dst, service port, direction, protocol) for those that are. ``beacon_targets`` names a
    table of indicator IPs whose connection start times are kept for the beaconing test."""
    ok = CODE["ok"]
    beacon_hit = f"fc AND dstaddr IN (SELECT value FROM {beacon_targets})" if beacon_targets else "FALSE"
    probe = int(settings.scan_probe_packets)
    return f"""
    CREATE OR REPLACE TEMP TABLE {table} AS
    -- fc: the source is the client. A rejected record is an unanswered attempt by its source;
    -- otherwise the side with the lower port is the server (ties: the source is the client).
    WITH oriented AS (SELECT *, action = 'REJECT' OR dstport <= srcport AS fc FROM {source}),
    marked AS (SELECT *, {_status_sql(internal)} AS status FROM oriented)
    SELECT CAST(status AS UTINYINT) AS status,
           CASE WHEN status = {ok} THEN srcaddr END AS src,
           CASE WHEN status = {ok} THEN dstaddr END AS dst,
           CASE WHEN status = {ok} THEN (CASE WHEN fc THEN dstport ELSE srcport END) END AS port,
           CASE WHEN status = {ok} THEN fc END AS from_client,
           CASE WHEN status = {ok} THEN protocol END AS proto,
           count(*) AS flows,
           count(*) FILTER (WHERE action = 'ACCEPT') AS accepted_flows,
           count(*) FILTER (WHERE packets <= {probe} OR action = 'REJECT') AS probe_flows,
           sum(bytes) AS bytes,
           max(bytes) AS max_bytes,
           min(start) AS first_seen,
           max(start) AS last_seen,
           list({{'t': start, 'p': srcport}}) FILTER (WHERE status = {ok} AND {beacon_hit}) AS starts
    FROM marked
    GROUP BY ALL
    """


CONVERSATIONS_SQL = f"""
CREATE OR REPLACE TEMP TABLE conv AS
SELECT CASE WHEN from_client THEN src ELSE dst END AS client,
       CASE WHEN from_client THEN dst ELSE src END AS server,
       port, proto,
       sum(flows) AS flows,
       sum(accepted_flows) AS accepted_flows,
       sum(probe_flows) AS probe_flows,
       coalesce(sum(bytes) FILTER (WHERE from_client), 0) AS bytes_c2s,
       coalesce(sum(bytes) FILTER (WHERE NOT from_client), 0) AS bytes_s2c,
       coalesce(max(max_bytes) FILTER (WHERE from_client), 0) AS max_c2s,
       coalesce(max(max_bytes) FILTER (WHERE NOT from_client), 0) AS max_s2c,
       min(first_seen) AS first_seen,
       max(last_seen) AS last_seen,
       flatten(list(starts)) AS starts
FROM pre
WHERE status = {CODE["ok"]}
GROUP BY ALL
"""


def status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute("SELECT status, sum(flows) FROM pre GROUP BY status").fetchall()
    return {STATUSES[int(code)]: int(flows) for code, flows in rows}


# The header line AWS writes: a leftover file holding just this is counted without DuckDB (which
# gives such a line the status "header", and nothing else).
HEADER_LINE = (
    b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    b"log-status\n"
)


class _Readers:
    """The two readers over one connection, with what every pass needs (settings, the internal
    ranges, the beacon targets)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: FlowSettings,
        internal: list[Network],
        beacons: Future[pa.Array],
    ) -> None:
        self.con, self.settings, self.internal, self.beacon_source = con, settings, internal, beacons

    @property
    def beacons(self) -> pa.Array:
        return self.beacon_source.result()

    def duckdb(self, files: list[Path], table: str = "pre") -> list[Path]:
        """The DuckDB reader into ``table``. A file it cannot read at all (corrupt gzip...) is left
        out and returned, so one bad file never stops the run."""
        unreadable: list[Path] = []
        if len(self.beacons):
            self.con.register("beacon_targets", pa.table({"value": self.beacons}))
        try:
            self._aggregate(files, table)
        except _READ_ERRORS:
            for file in files:
                try:
                    self.con.execute(f"SELECT count(*) FROM {read_csv_sql([file])}").fetchall()
                except _READ_ERRORS:
                    unreadable.append(file)
            self._aggregate([f for f in files if f not in unreadable], table)
        finally:
            if len(self.beacons):
                self.con.unregister("beacon_targets")
        return unreadable

    def _aggregate(self, files: list[Path], table: str) -> None:
        source = _typed_sql(read_csv_sql(files)) if files else _EMPTY_SOURCE
        targets = "beacon_targets" if len(self.beacons) else None
        self.con.execute(pre_aggregate_sql(source, self.settings, self.internal, targets, table))

    def native(self, files: list[Path]) -> ScanResult:
        """The native reader folds the well-formed records; DuckDB reads the rest (leftover lines,
        and whole files the native reader does not take) into ``pre_rest``. Without an analysed
        record in it (the usual case) the tables come from the native conversations directly;
        otherwise both parts are summed into ``pre`` and the SQL takes it from there."""
        con = self.con
        with tempfile.TemporaryDirectory(prefix="honeyguard-flows-leftover-") as workdir:
            result = native.scan(files, self.settings, self.internal, self.beacon_source, Path(workdir))
            source_of = {left: file for file, left in result.leftovers.items() if left.stat().st_size > 0}
            headers = [left for left in source_of if _only_a_header(left)]
            rest = sorted([*(f for f in source_of if f not in headers), *result.whole])
            unreadable = self.duckdb(rest, "pre_rest") if rest else []
        edges_sql = EDGES_SQL
        if rest and _has_analysed_records(con, "pre_rest"):
            if headers:
                con.execute(f"INSERT INTO pre_rest {native_tables.totals_sql(CODE['header'], len(headers))}")
            native_tables.create_pre(con, result.scanners, "pre_rest", CODE["ok"], CODE["inbound_rejected"])
            _tables_from_pre(con, self.internal)
        else:
            rest_table = "pre_rest" if rest else None
            native_tables.create_from_conversations(con, result.scanners, rest_table, len(headers), CODE)
            edges_sql = native_tables.EDGES_SQL
        if rest:
            con.execute("DROP TABLE pre_rest")
        return ScanResult(unreadable=[source_of.get(f, f) for f in unreadable], edges_sql=edges_sql)


def _ready(values: pa.Array | list[str]) -> Future[pa.Array]:
    done: Future[pa.Array] = Future()
    done.set_result(pa.array(values, pa.string()))
    return done


def _has_analysed_records(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    ((count,),) = con.execute(f"SELECT count(*) FROM {table} WHERE status = {CODE['ok']}").fetchall()
    return bool(count)


def _only_a_header(leftover: Path) -> bool:
    if leftover.stat().st_size != len(HEADER_LINE):
        return False
    return leftover.read_bytes() == HEADER_LINE


def _tables_from_pre(con: duckdb.DuckDBPyConnection, internal: list[Network]) -> None:
    con.execute(CONVERSATIONS_SQL)
    build_addresses(con, internal)


class ScanResult(msgspec.Struct):
    """The files that could not be read at all, and the statement that builds ``edges`` from what
    the scan left (the caller runs it, so that other work can run beside it)."""

    unreadable: list[Path]
    edges_sql: str


def run_scan(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    settings: FlowSettings,
    internal: list[Network],
    beacons: Future[pa.Array] | pa.Array | list[str],
) -> ScanResult:
    """Build ``pre`` (lines per status), ``conv`` and ``addr`` from the files. ``beacons``: the
    indicator IPs whose connection start times are kept for the beaconing test (a future: the
    native reader starts inflating before they are loaded)."""
    readers = _Readers(con, settings, internal, beacons if isinstance(beacons, Future) else _ready(beacons))
    if files and settings.reader == "auto" and native.available() and not GLOB_CHARS & set(tempfile.gettempdir()):
        return readers.native(files)
    unreadable = readers.duckdb(files)
    _tables_from_pre(con, internal)
    return ScanResult(unreadable=unreadable, edges_sql=EDGES_SQL)


_EMPTY_SOURCE = _typed_sql(
    "(SELECT " + ", ".join(f'NULL::VARCHAR AS "{name}"' for name in (*_TEXT, *_NUMERIC)) + " WHERE FALSE)"
)
