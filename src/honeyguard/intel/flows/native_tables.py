"""The native reader's result as DuckDB tables (Arrow buffers from ``_fastscan``, no Python rows).

Two ways, chosen by what DuckDB read of the leftover lines (table ``rest``, shaped like ``pre``):

- ``create_from_conversations``, the usual case, when the rest holds no analysed record (headers,
  odd lines): C folds its groups into conversations itself (``Scanner.conversations``), and
  ``conv``, ``addr`` and ``edges`` are built straight from them; ``pre`` keeps only the per-status
  totals, which is all that is read of it then.
- ``create_pre`` otherwise: the native groups and the rest summed into ``pre``, from which the
  usual SQL builds ``conv``, ``addr`` and ``edges``.

Both give the very tables (columns, types, rows) the DuckDB reader alone gives; the tests hold it.
"""

from __future__ import annotations

from typing import Any

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

_STARTS_TYPE = "STRUCT(t BIGINT, p BIGINT)[]"


def _int64(buffer: bytes, count: int) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(buffer)])


def _int8(buffer: bytes, count: int) -> pa.Array:
    return pa.Array.from_buffers(pa.int8(), count, [None, pa.py_buffer(buffer)])


def _decimal(buffer: bytes, count: int) -> pa.Array:
    """16-byte little-endian integers (128-bit sums) as a decimal128(38, 0) array."""
    return pa.Array.from_buffers(pa.decimal128(38, 0), count, [None, pa.py_buffer(buffer)])


def _text(offsets: bytes, text: bytes, count: int) -> pa.Array:
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _row_numbers(count: int) -> pa.Array:
    return pa.array(range(count), pa.int64())


_GROUP_NUMBERS = ("port", "from_client", "proto", "flows", "accepted_flows", "probe_flows", "max_bytes",
                  "first_seen", "last_seen")  # fmt: skip


def arrow_tables(scanner: Any) -> tuple[pa.Table, pa.Table]:
    """(groups, starts) of one scanner as Arrow tables; ``g`` joins a start to its group."""
    count, starts = scanner.counts()
    b = scanner.export()
    groups = pa.table(
        {
            "g": _row_numbers(count),
            "src": _text(b[0], b[1], count),
            "dst": _text(b[2], b[3], count),
            **{name: _int64(b[4 + i], count) for i, name in enumerate(_GROUP_NUMBERS)},
            "bytes": _decimal(b[13], count),
        }
    )
    start_table = pa.table({"g": _int64(b[14], starts), "t": _int64(b[15], starts), "p": _int64(b[16], starts)})
    return groups, start_table


_CONV_NUMBERS = ("port", "proto", "flows", "accepted_flows", "probe_flows", "max_c2s", "max_s2c", "first_seen",
                 "last_seen")  # fmt: skip


_START = pa.struct([("t", pa.int64()), ("p", pa.int64())])
_STARTS = pa.list_(_START)
_BATCH_ROWS = 32_768  # Arrow record batches DuckDB scans in parallel


class ConversationTables(msgspec.Struct):
    """``Scanner.conversations`` as Arrow tables: ``conv`` (with ``client_internal`` and
    ``server_internal``, 0 or 1, and ``starts`` as a list per row) and the distinct ``addresses``
    (a, v4, internal), every one a canonical dotted quad."""

    conv: Any
    addresses: Any


def conversation_tables(scanners: list[Any]) -> ConversationTables:
    """The groups of every scanner folded together into conversations."""
    count, naddrs, nstarts, wide, b = scanners[0].conversations(*scanners[1:])
    byte_sums = _decimal if wide else _int64  # 64-bit when every sum fits: a cheaper cast to HUGEINT
    starts = pa.StructArray.from_arrays([_int64(b[18], nstarts), _int64(b[19], nstarts)], fields=list(_START))
    conv = pa.table(
        {
            "client": _text(b[0], b[1], count),
            "server": _text(b[2], b[3], count),
            **{name: _int64(b[4 + i], count) for i, name in enumerate(_CONV_NUMBERS)},
            "bytes_c2s": byte_sums(b[13], count),
            "bytes_s2c": byte_sums(b[14], count),
            "client_internal": _int8(b[15], count),
            "server_internal": _int8(b[16], count),
            "starts": pa.ListArray.from_buffers(_STARTS, count, [None, pa.py_buffer(b[17])], children=[starts]),
        }
    )
    addresses = pa.table(
        {"a": _text(b[20], b[21], naddrs), "v4": _int64(b[22], naddrs), "internal": _int8(b[23], naddrs)}
    )
    return ConversationTables(
        conv=pa.Table.from_batches(conv.to_batches(_BATCH_ROWS), conv.schema), addresses=addresses
    )


# scan.py's CONVERSATIONS_SQL and queries.EDGES_SQL, same columns and types (sums of BIGINT are
# HUGEINT). ``conv`` is a view: only small counts read it when it is built this way.
_CONV_SQL = """
CREATE OR REPLACE TEMP VIEW conv AS
SELECT client, server, port, proto, CAST(flows AS HUGEINT) AS flows,
       CAST(accepted_flows AS HUGEINT) AS accepted_flows, CAST(probe_flows AS HUGEINT) AS probe_flows,
       CAST(bytes_c2s AS HUGEINT) AS bytes_c2s, CAST(bytes_s2c AS HUGEINT) AS bytes_s2c, max_c2s, max_s2c,
       first_seen, last_seen, starts
FROM native_conv"""
# queries.EDGES_SQL on these rows: every address is valid, and canon is the address itself.
EDGES_SQL = """
CREATE OR REPLACE TABLE edges AS
SELECT CASE WHEN client_internal = 1 THEN client ELSE server END AS host,
       CASE WHEN client_internal = 1 THEN server ELSE client END AS peer,
       client_internal = 1 AS host_is_client, port, proto, CAST(flows AS HUGEINT) AS flows,
       CAST(accepted_flows AS HUGEINT) AS accepted_flows, CAST(probe_flows AS HUGEINT) AS probe_flows,
       CAST(CASE WHEN client_internal = 1 THEN bytes_s2c ELSE bytes_c2s END AS HUGEINT) AS bytes_to_host,
       CAST(CASE WHEN client_internal = 1 THEN bytes_c2s ELSE bytes_s2c END AS HUGEINT) AS bytes_from_host,
       CASE WHEN client_internal = 1 THEN max_s2c ELSE max_c2s END AS max_to_host,
       first_seen, last_seen, starts
FROM native_conv WHERE client_internal <> server_internal"""
_ADDR_SQL = """
CREATE OR REPLACE TABLE addr AS
SELECT a, a AS canon, v4, internal = 1 AS internal, TRUE AS valid FROM native_addr"""


def totals_sql(status: int, flows: int, values: tuple[int, ...] | None = None) -> str:
    """One ``pre`` row of totals for a status, without group keys, as the SQL gives for lines it
    does not analyse; ``values``: (flows, accepted, probes, bytes, max bytes, first, last) when
    known, else only ``flows`` (a header line: no number in it parses)."""
    _, accepted, probes, total, biggest, first, last = values or (flows, 0, 0, None, None, None, None)
    number = "NULL::BIGINT" if total is None else f"CAST('{int(total)}' AS HUGEINT)"
    return f"""
      SELECT CAST({status} AS UTINYINT) AS status, NULL::VARCHAR AS src, NULL::VARCHAR AS dst, NULL::BIGINT AS port,
             NULL::BOOLEAN AS from_client, NULL::BIGINT AS proto, CAST({int(flows)} AS BIGINT) AS flows,
             CAST({int(accepted)} AS BIGINT) AS accepted_flows, CAST({int(probes)} AS BIGINT) AS probe_flows,
             CAST({number} AS HUGEINT) AS bytes, CAST({_or_null(biggest)} AS BIGINT) AS max_bytes,
             CAST({_or_null(first)} AS BIGINT) AS first_seen, CAST({_or_null(last)} AS BIGINT) AS last_seen,
             NULL::{_STARTS_TYPE} AS starts"""


def _or_null(value: int | None) -> str:
    return "NULL" if value is None else str(int(value))


def rejected_totals(scanners: list[Any]) -> tuple[int, ...] | None:
    """The scanners' inbound rejected totals summed: (flows, accepted, probes, bytes, max bytes,
    first, last), or None when there were none."""
    parts = [tuple(int(v) for v in r) for r in (s.rejected() for s in scanners) if r is not None]
    if not parts:
        return None
    columns = list(zip(*parts, strict=True))
    return (*(sum(c) for c in columns[:4]), max(columns[4]), min(columns[5]), max(columns[6]))


def create_from_conversations(
    con: duckdb.DuckDBPyConnection, scanners: list[Any], rest: str | None, headers: int, codes: dict[str, int]
) -> None:
    """CREATE ``pre`` (totals per status), ``conv`` and ``addr`` from the native conversations, with
    ``rest`` (DuckDB's part, no analysed record in it, or None) and ``headers`` header lines counted
    without DuckDB; ``EDGES_SQL`` then builds ``edges`` from them."""
    tables = conversation_tables(scanners)
    flows = int(pc.sum(tables.conv["flows"]).as_py() or 0)
    parts = [f"SELECT * FROM {rest}"] if rest else []
    if flows:  # the analysed records: only their count is read from pre
        parts.append(totals_sql(codes["ok"], flows))
    rejected = rejected_totals(scanners)
    if rejected is not None:
        parts.append(totals_sql(codes["inbound_rejected"], rejected[0], rejected))
    if headers:
        parts.append(totals_sql(codes["header"], headers))
    con.execute(f"CREATE OR REPLACE TEMP TABLE pre AS {' UNION ALL '.join(parts or [totals_sql(0, 0) + ' LIMIT 0'])}")
    con.register("native_conv", tables.conv)  # for the connection's life: conv and EDGES_SQL read it
    con.register("native_addr", tables.addresses)
    try:
        con.execute(_CONV_SQL)
        con.execute(_ADDR_SQL)
    finally:
        con.unregister("native_addr")


_GROUP_COLUMNS = (
    "src, dst, port, from_client, proto, flows, accepted_flows, probe_flows, bytes, max_bytes, first_seen, last_seen"
)
_SUMMED = """
    SELECT CAST(status AS UTINYINT) AS status, src, dst, port, from_client, proto,
           CAST(sum(flows) AS BIGINT) AS flows, CAST(sum(accepted_flows) AS BIGINT) AS accepted_flows,
           CAST(sum(probe_flows) AS BIGINT) AS probe_flows, CAST(sum(bytes) AS HUGEINT) AS bytes,
           max(max_bytes) AS max_bytes, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
           flatten(list(starts) FILTER (WHERE starts IS NOT NULL)) AS starts
    FROM ({parts})
    GROUP BY status, src, dst, port, from_client, proto"""


def create_pre(con: duckdb.DuckDBPyConnection, scanners: list[Any], rest: str, ok: int, inbound_rejected: int) -> None:
    """CREATE ``pre`` from the native groups and the DuckDB-read rest (table ``rest``, same shape),
    a key present in both summed as one."""
    scanner = scanners[0]
    for other in scanners[1:]:  # one set of groups, so that a key is one row
        scanner.merge(other)
    groups, starts = arrow_tables(scanner)
    con.register("native_groups", groups)
    con.register("native_starts", starts)
    folded = f"""
      SELECT CAST({ok} AS UTINYINT) AS status, src, dst, port, from_client = 1 AS from_client, proto, flows,
             accepted_flows, probe_flows, CAST(bytes AS HUGEINT) AS bytes, max_bytes, first_seen, last_seen, s.starts
      FROM native_groups LEFT JOIN (SELECT g, list({{'t': t, 'p': p}}) AS starts
                                    FROM native_starts GROUP BY g) s USING (g)"""
    parts = [folded, f"SELECT status, {_GROUP_COLUMNS}, starts FROM {rest}"]
    rejected = scanner.rejected()
    if rejected is not None:
        flows, accepted, probes, total, biggest, first, last = (int(v) for v in rejected)
        parts.append(f"""
          SELECT {inbound_rejected}, NULL, NULL, NULL, NULL, NULL, {flows}, {accepted}, {probes},
                 CAST('{total}' AS HUGEINT), {biggest}, {first}, {last}, NULL""")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE pre AS {_SUMMED.format(parts=' UNION ALL '.join(parts))}")
    finally:
        con.unregister("native_groups")
        con.unregister("native_starts")
