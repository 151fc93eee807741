"""Classify the distinct addresses that survived the scan, and match them against the indicators.

This runs on distinct addresses (thousands, not millions of records): IPv4 in SQL with integer
ranges, IPv6 (rarer, and awkward in SQL) in Python with the ipaddress module.
"""

from __future__ import annotations

import ipaddress

import duckdb
import pyarrow as pa

from honeyguard.intel.flows.cidrs import Network, v4_in_networks_sql
from honeyguard.intel.flows.indicators import IndicatorRow, IndicatorSet, canonical_ip

_OCTETS = ", ".join(f"TRY_CAST(split_part(a, '.', {i}) AS BIGINT) AS o{i}" for i in range(1, 5))
_V4_ADDRESSES_SQL = f"""
WITH parts AS (SELECT a, {_OCTETS} FROM addr_raw WHERE NOT contains(a, ':')),
checked AS (
  SELECT a, CASE WHEN o1 BETWEEN 0 AND 255 AND o2 BETWEEN 0 AND 255 AND o3 BETWEEN 0 AND 255
                      AND o4 BETWEEN 0 AND 255
                      AND CAST(o1 AS VARCHAR) || '.' || CAST(o2 AS VARCHAR) || '.' || CAST(o3 AS VARCHAR)
                          || '.' || CAST(o4 AS VARCHAR) = a
                 THEN o1 * 16777216 + o2 * 65536 + o3 * 256 + o4 END AS v4
  FROM parts
)
"""


def build_addresses(con: duckdb.DuckDBPyConnection, internal: list[Network]) -> None:
    """CREATE ``addr`` (a, canon, v4, internal, valid) for every address in ``conv``."""
    con.execute("""CREATE OR REPLACE TEMP TABLE addr_raw AS
                   SELECT DISTINCT a FROM (SELECT client AS a FROM conv UNION ALL SELECT server FROM conv)""")
    con.execute(f"""CREATE OR REPLACE TABLE addr AS {_V4_ADDRESSES_SQL}
                    SELECT a, a AS canon, v4,
                           coalesce({v4_in_networks_sql("v4", internal)}, FALSE) AS internal,
                           v4 IS NOT NULL AS valid
                    FROM checked""")
    v6_rows = con.execute("SELECT a FROM addr_raw WHERE contains(a, ':')").fetchall()
    if v6_rows:
        v6_networks: list[Network] = [n for n in internal if isinstance(n, ipaddress.IPv6Network)]
        texts, canons, internals, valids = [], [], [], []
        for (text,) in v6_rows:
            canon = canonical_ip(text)
            texts.append(text)
            canons.append(canon or text)
            valids.append(canon is not None)
            internals.append(canon is not None and _in_any(canon, v6_networks, internal))
        table = pa.table({"a": texts, "canon": canons, "internal": internals, "valid": valids})
        con.register("addr_v6_arrow", table)
        con.execute("INSERT INTO addr SELECT a, canon, NULL, internal, valid FROM addr_v6_arrow")
        con.unregister("addr_v6_arrow")


def _in_any(canon: str, v6_networks: list[Network], all_networks: list[Network]) -> bool:
    address = ipaddress.ip_address(canon)
    networks = v6_networks if address.version == 6 else all_networks  # an IPv4-mapped address
    return any(address in n for n in networks if n.version == address.version)


def build_matches(con: duckdb.DuckDBPyConnection, indicators: IndicatorSet) -> None:
    """CREATE ``matches`` (canon, value, role, confidence): external addresses that are indicators or
    lie in an indicator range. Indicators inside our own ranges are ignored."""
    con.register("ind_ip", indicators.ip_table())
    con.register("ind_cidr4", indicators.cidr_v4_table())
    con.execute("""
    CREATE OR REPLACE TABLE matches AS
    SELECT DISTINCT x.canon, i.value, i.role, i.confidence
    FROM addr x JOIN ind_ip i ON i.value = x.canon
    WHERE x.valid AND NOT x.internal
    UNION
    SELECT DISTINCT k.canon, c.value, c.role, c.confidence
    FROM (
      -- each external address's network at every prefix length in use: an equi-join, not a range join
      SELECT x.canon, p.prefix, x.v4 // CAST(pow(2, 32 - p.prefix) AS BIGINT) AS net
      FROM addr x CROSS JOIN (SELECT DISTINCT prefix FROM ind_cidr4) p
      WHERE x.v4 IS NOT NULL AND NOT x.internal
    ) k
    JOIN ind_cidr4 c ON c.prefix = k.prefix AND c.net = k.net
    """)
    v6_ranges = indicators.cidr_v6()
    if v6_ranges:
        rows = con.execute("SELECT DISTINCT canon FROM addr WHERE valid AND NOT internal AND v4 IS NULL").fetchall()
        # One dictionary per prefix length: a lookup per length, not a test per range.
        by_prefix: dict[int, dict[int, list[IndicatorRow]]] = {}
        for network, row in v6_ranges:
            key = int(network.network_address) >> (128 - network.prefixlen)
            by_prefix.setdefault(network.prefixlen, {}).setdefault(key, []).append(row)
        found: list[tuple[str, str, str, int]] = []
        for (canon,) in rows:
            address = ipaddress.ip_address(canon)
            if address.version != 6:
                continue
            for prefix, table in by_prefix.items():
                for r in table.get(int(address) >> (128 - prefix), []):
                    found.append((canon, r.value, r.role, r.confidence))
        if found:
            con.register(
                "match_v6_arrow",
                pa.table(
                    {
                        "canon": [f[0] for f in found],
                        "value": [f[1] for f in found],
                        "role": [f[2] for f in found],
                        "confidence": pa.array([f[3] for f in found], pa.int32()),
                    }
                ),
            )
            con.execute("INSERT INTO matches SELECT * FROM match_v6_arrow")
            con.unregister("match_v6_arrow")
