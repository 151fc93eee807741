"""The one pass over the raw flow files.

Every record is read once. Each line gets a status (ok, header, wrong field count, NODATA, ...);
OK records are folded, by source, destination, service port and direction, into a small table
``pre``, which is then oriented client -> server into *conversations* (``conv``): client, server,
service port, protocol, with counts, bytes and times. Everything else runs on that much smaller
table. Rejected traffic from outside is only counted: it is internet background noise and would
otherwise dominate the table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from honeyguard.intel.flows.cidrs import Network, maybe_internal_sql
from honeyguard.intel.flows.files import read_csv_sql
from honeyguard.intel.flows.settings import FlowSettings

# Record statuses other than "ok", in the order they are decided.
STATUSES = ("header", "wrong_field_count", "nodata", "skipdata", "unsupported_version",
            "missing_field", "bad_value")
_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)
# The numeric fields the analysis uses ("end" is not: a flow's time is its start).
_NUMERIC = ("srcport", "dstport", "protocol", "packets", "bytes", "start")


def _typed_records_sql(source: str) -> str:
    casts = ", ".join(f'TRY_CAST("{name}" AS BIGINT) AS n_{name}' for name in _NUMERIC)
    good = " AND ".join(f"n_{name} IS NOT NULL" for name in _NUMERIC)
    dash = " OR ".join(f"\"{name}\" = '-'" for name in ("srcaddr", "dstaddr", "action", *_NUMERIC))
    return f"""
    SELECT
      CASE
        WHEN version = '2' AND extra IS NULL AND log_status = 'OK' AND {good}
             AND action IN ('ACCEPT', 'REJECT')
             AND (contains(srcaddr, '.') OR contains(srcaddr, ':'))
             AND (contains(dstaddr, '.') OR contains(dstaddr, ':')) THEN 'ok'
        WHEN version = 'version' THEN 'header'
        WHEN extra IS NOT NULL OR log_status IS NULL THEN 'wrong_field_count'
        WHEN log_status = 'NODATA' THEN 'nodata'
        WHEN log_status = 'SKIPDATA' THEN 'skipdata'
        WHEN version <> '2' THEN 'unsupported_version'
        WHEN {dash} THEN 'missing_field'
        ELSE 'bad_value'
      END AS status,
      srcaddr, dstaddr, action, n_srcport, n_dstport, n_protocol, n_packets, n_bytes, n_start
    FROM (SELECT *, {casts} FROM {source})"""


def pre_aggregate_sql(source: str, settings: FlowSettings, internal: list[Network],
                      beacon_targets: str | None) -> str:
    """CREATE ``pre``: one row per (status) for the lines that are not analysed, and per
    (src, dst, service port, direction, protocol) for those that are. ``beacon_targets`` names a
    table of indicator IPs whose connection start times are kept for the beaconing test."""
    client = "CASE WHEN fc THEN srcaddr ELSE dstaddr END"
    # Evaluated lazily by CASE: the range test runs only on rejected records.
    kept = (f"CASE WHEN status <> 'ok' THEN FALSE WHEN action = 'ACCEPT' THEN TRUE "
            f"ELSE {maybe_internal_sql(f'({client})', internal)} END")
    beacon_hit = f"fc AND dstaddr IN (SELECT value FROM {beacon_targets})" if beacon_targets else "FALSE"
    return f"""
    CREATE OR REPLACE TEMP TABLE pre AS
    WITH rec AS ({_typed_records_sql(source)}),
    -- fc: the source is the client. A rejected record is an unanswered attempt by its source;
    -- otherwise the side with the lower port is the server (ties: the source is the client).
    oriented AS (SELECT *, action = 'REJECT' OR n_dstport <= n_srcport AS fc FROM rec),
    marked AS (SELECT *, {kept} AS kept FROM oriented)
    SELECT status,
           CASE WHEN kept THEN srcaddr END AS src,
           CASE WHEN kept THEN dstaddr END AS dst,
           CASE WHEN kept THEN (CASE WHEN fc THEN n_dstport ELSE n_srcport END) END AS port,
           CASE WHEN kept THEN fc END AS from_client,
           CASE WHEN kept THEN n_protocol END AS proto,
           count(*) AS flows,
           count(*) FILTER (WHERE action = 'ACCEPT') AS accepted_flows,
           count(*) FILTER (WHERE n_packets <= {int(settings.scan_probe_packets)} OR action = 'REJECT')
             AS probe_flows,
           sum(n_bytes) AS bytes,
           max(n_bytes) AS max_bytes,
           min(n_start) AS first_seen,
           max(n_start) AS last_seen,
           list({{'t': n_start, 'p': n_srcport}}) FILTER (WHERE kept AND {beacon_hit}) AS starts
    FROM marked
    GROUP BY ALL
    """


CONVERSATIONS_SQL = """
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
WHERE status = 'ok' AND src IS NOT NULL
GROUP BY ALL
"""


def run_scan(con: duckdb.DuckDBPyConnection, files: list[Path], settings: FlowSettings,
             internal: list[Network], beacon_targets: str | None) -> list[Path]:
    """Build ``pre`` and ``conv`` from the files. A file DuckDB cannot read at all (corrupt gzip...)
    is left out and returned, so one bad file never stops the run."""
    unreadable: list[Path] = []
    try:
        con.execute(pre_aggregate_sql(read_csv_sql(files), settings, internal, beacon_targets))
    except _READ_ERRORS:
        for file in files:
            try:
                con.execute(f"SELECT count(*) FROM {read_csv_sql([file])}").fetchall()
            except _READ_ERRORS:
                unreadable.append(file)
        readable = [f for f in files if f not in unreadable]
        con.execute(pre_aggregate_sql(read_csv_sql(readable) if readable else _EMPTY_SOURCE, settings,
                                      internal, beacon_targets))
    con.execute(CONVERSATIONS_SQL)
    return unreadable


_EMPTY_SOURCE = ("(SELECT " + ", ".join(
    f'NULL::VARCHAR AS "{name}"' for name in (
        "version", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start",
        "action", "log_status", "extra")) + " WHERE FALSE)")
