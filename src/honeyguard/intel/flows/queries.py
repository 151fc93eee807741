"""The analytics, as SQL over the conversation table (``conv``) and its classified addresses.

Written with portable constructs (FILTER, window frames, arg_max/max_by, list/collect_list) so the
same queries run on a distributed SQL engine over Parquet.

``edges``, ``matches`` and ``infected_edges`` are tables of the (private, in-memory) database, not
TEMP ones: analyze.py reads them from a second connection too, which does not see another
connection's temporary tables.
"""

from __future__ import annotations

from typing import Any

import duckdb

from honeyguard.intel.flows.files import sql_string
from honeyguard.intel.flows.settings import FlowSettings

Row = tuple[Any, ...]

EDGES_SQL = """
CREATE OR REPLACE TABLE edges AS
SELECT CASE WHEN ac.internal THEN ac.canon ELSE sv.canon END AS host,
       CASE WHEN ac.internal THEN sv.canon ELSE ac.canon END AS peer,
       ac.internal AS host_is_client, c.port, c.proto, c.flows, c.accepted_flows, c.probe_flows,
       CASE WHEN ac.internal THEN c.bytes_s2c ELSE c.bytes_c2s END AS bytes_to_host,
       CASE WHEN ac.internal THEN c.bytes_c2s ELSE c.bytes_s2c END AS bytes_from_host,
       CASE WHEN ac.internal THEN c.max_s2c ELSE c.max_c2s END AS max_to_host,
       c.first_seen, c.last_seen, c.starts
FROM conv c
JOIN addr ac ON ac.a = c.client
JOIN addr sv ON sv.a = c.server
WHERE ac.valid AND sv.valid AND ac.internal <> sv.internal
"""

# One row per (address, indicator value): an address can match an IP and a range, a value many roles.
MATCHED_VALUES_SQL = """
CREATE OR REPLACE TEMP TABLE matched_values AS
SELECT canon, value, list(DISTINCT role) AS roles, max(confidence) AS confidence
FROM matches GROUP BY canon, value
"""


def _roles(roles: list[str]) -> str:
    return "(" + ", ".join(sql_string(r) for r in roles or ["-none-"]) + ")"


def infected_edges(con: duckdb.DuckDBPyConnection, settings: FlowSettings) -> None:
    """Conversations an internal host started, accepted, with a peer in an infected role."""
    con.execute(f"""
    CREATE OR REPLACE TABLE infected_edges AS
    SELECT e.* FROM edges e
    WHERE e.host_is_client AND e.accepted_flows > 0
      AND e.peer IN (SELECT canon FROM matches WHERE role IN {_roles(settings.infected_roles)})
    """)


def infected_hosts(con: duckdb.DuckDBPyConnection) -> list[Row]:
    return con.execute("""
    SELECT host, sum(flows), sum(accepted_flows), sum(bytes_from_host), sum(bytes_to_host),
           list(DISTINCT port), list(DISTINCT peer), min(first_seen), max(last_seen)
    FROM infected_edges GROUP BY host ORDER BY host
    """).fetchall()


def indicators_by_host(con: duckdb.DuckDBPyConnection, edges_table: str, roles: list[str]) -> dict[str, Row]:
    """host -> (indicator values, roles, max confidence) for the peers of ``edges_table``."""
    rows = con.execute(f"""
    SELECT x.host, list(DISTINCT m.value), list(DISTINCT m.role), max(m.confidence)
    FROM (SELECT DISTINCT host, peer FROM {edges_table}) x
    JOIN matches m ON m.canon = x.peer AND m.role IN {_roles(roles)}
    GROUP BY x.host
    """).fetchall()
    return {row[0]: row[1:] for row in rows}


def beacons(con: duckdb.DuckDBPyConnection, settings: FlowSettings) -> dict[str, Row]:
    """host -> (peer, port, connections, mean gap s, cv): its most regular beacon, if any.
    A connection is one client port; its start is its first record's start."""
    rows = con.execute(f"""
    WITH starts AS (
      SELECT host, peer, port, unnest(starts) AS s FROM infected_edges
      WHERE len(starts) >= {int(settings.beacon_min_connections)}
    ),
    conns AS (SELECT host, peer, port, s.p AS client_port, min(s.t) AS started FROM starts GROUP BY ALL),
    gaps AS (
      SELECT host, peer, port,
             started - lag(started) OVER (PARTITION BY host, peer, port ORDER BY started) AS gap
      FROM conns
    ),
    stats AS (
      SELECT host, peer, port, count(*) AS connections, avg(gap) AS mean_gap,
             stddev_pop(gap) AS sd_gap
      FROM gaps GROUP BY host, peer, port
    )
    SELECT host, peer, port, connections, mean_gap, sd_gap / mean_gap AS cv
    FROM stats
    WHERE connections >= {int(settings.beacon_min_connections)}
      AND mean_gap >= {float(settings.beacon_min_interval_s)} AND mean_gap > 0
      AND sd_gap / mean_gap <= {float(settings.beacon_max_cv)}
    ORDER BY host, cv, peer, port
    """).fetchall()
    best: dict[str, Row] = {}
    for row in rows:
        best.setdefault(row[0], row[1:])
    return best


def scanners(con: duckdb.DuckDBPyConnection, settings: FlowSettings) -> list[Row]:
    """(host, port, proto, window_targets, window_end, targets, probe_targets, flows, first, last)."""
    window = int(settings.scan_window_s)
    minimum = int(settings.scan_min_targets)
    return con.execute(f"""
    WITH probed AS (
      -- A (host, port, proto) needs {minimum} probe conversations to reach {minimum} probed peers: the
      -- few that do are found from the probes alone, before any distinct count. (Edge keys are never
      -- NULL: every OK record has its addresses, ports and protocol.)
      SELECT host, port, proto FROM edges WHERE host_is_client AND probe_flows = flows
      GROUP BY host, port, proto HAVING count(*) >= {minimum}
    ),
    outbound AS (
      SELECT e.host, e.port, e.proto, e.peer, e.first_seen, e.last_seen, e.flows, e.probe_flows = e.flows AS is_probe
      FROM edges e JOIN probed k ON k.host = e.host AND k.port = e.port AND k.proto = e.proto
      WHERE e.host_is_client
    ),
    per_port AS (
      SELECT host, port, proto, count(DISTINCT peer) AS targets,
             count(DISTINCT peer) FILTER (WHERE is_probe) AS probe_targets, sum(flows) AS flows,
             min(first_seen) FILTER (WHERE is_probe) AS first_probe,
             max(last_seen) FILTER (WHERE is_probe) AS last_probe
      FROM outbound GROUP BY host, port, proto
      HAVING count(DISTINCT peer) FILTER (WHERE is_probe) >= {minimum}
    ),
    probes AS (
      SELECT o.host, o.port, o.proto, min(o.first_seen) AS first_seen
      FROM outbound o JOIN per_port p ON p.host = o.host AND p.port = o.port AND p.proto = o.proto
      WHERE o.is_probe GROUP BY o.host, o.port, o.proto, o.peer
    ),
    windowed AS (
      SELECT host, port, proto, first_seen,
             count(*) OVER (PARTITION BY host, port, proto ORDER BY first_seen
                            RANGE BETWEEN {window - 1} PRECEDING AND CURRENT ROW) AS in_window
      FROM probes
    ),
    best AS (
      SELECT host, port, proto, max(in_window) AS window_targets,
             arg_max(first_seen, in_window) AS window_end
      FROM windowed GROUP BY host, port, proto
    )
    SELECT b.host, b.port, b.proto, b.window_targets, b.window_end, p.targets, p.probe_targets, p.flows,
           p.first_probe, p.last_probe
    FROM best b JOIN per_port p ON p.host = b.host AND p.port = b.port AND p.proto = b.proto
    WHERE b.window_targets >= {minimum}
      AND p.probe_targets >= {float(settings.scan_min_probe_fraction)} * p.targets
    ORDER BY b.host, b.port, b.proto
    """).fetchall()


def downloads(con: duckdb.DuckDBPyConnection, settings: FlowSettings) -> list[Row]:
    """(host, bytes, max_flow_bytes, flows, port, proto, first, last) per internal host."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE download_edges AS
    SELECT * FROM edges
    WHERE accepted_flows > 0 AND bytes_to_host >= {int(settings.download_min_bytes)}
      AND peer IN (SELECT canon FROM matches WHERE role IN {_roles(settings.download_roles)})
    """)
    return con.execute("""
    SELECT host, sum(bytes_to_host), max(max_to_host), sum(flows), arg_max(port, bytes_to_host),
           arg_max(proto, bytes_to_host), min(first_seen), max(last_seen)
    FROM download_edges GROUP BY host ORDER BY host
    """).fetchall()


def blast_radius(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """(indicator, internal_hosts, accepted flows, all flows, roles, confidence), widest first."""
    con.execute(MATCHED_VALUES_SQL)
    return con.execute("""
    SELECT m.value, count(DISTINCT e.host) FILTER (WHERE e.accepted_flows > 0),
           sum(e.accepted_flows), sum(e.flows), any_value(m.roles), max(m.confidence)
    FROM matched_values m JOIN edges e ON e.peer = m.canon
    GROUP BY m.value
    ORDER BY 2 DESC, 3 DESC, 1
    """).fetchall()


def candidate_c2(con: duckdb.DuckDBPyConnection, settings: FlowSettings, infected: list[str]) -> list[Row]:
    """(value, infected_peers, other_hosts, flows, ports, infected hosts) for non-indicator peers."""
    if not infected:
        return []
    con.register("infected_hosts_arrow", _one_column("host", infected))
    try:
        return con.execute(f"""
        WITH started AS (
          SELECT host, peer, port, flows, host IN (SELECT host FROM infected_hosts_arrow) AS infected
          FROM edges WHERE host_is_client AND accepted_flows > 0
        ),
        peers AS (
          -- Counted on (host, peer) pairs first: an infected host also talks to popular services,
          -- whose thousands of other hosts would otherwise each get a port list, then be dropped.
          SELECT peer FROM started
          WHERE peer IN (SELECT peer FROM started WHERE infected) AND peer NOT IN (SELECT canon FROM matches)
          GROUP BY peer
          HAVING count(DISTINCT host) FILTER (WHERE infected) >= {int(settings.candidate_min_infected)}
             AND count(DISTINCT host) FILTER (WHERE NOT infected) <= {int(settings.candidate_max_other_hosts)}
        ),
        contacts AS (
          SELECT host, peer, any_value(infected) AS infected, sum(flows) AS flows, list(DISTINCT port) AS ports
          FROM started WHERE peer IN (SELECT peer FROM peers)
          GROUP BY host, peer
        )
        SELECT peer, count(*) FILTER (WHERE infected) AS infected_peers,
               count(*) FILTER (WHERE NOT infected) AS other_hosts, sum(flows),
               flatten(list(ports)), list(host) FILTER (WHERE infected)
        FROM contacts GROUP BY peer
        ORDER BY infected_peers DESC, peer
        """).fetchall()
    finally:
        con.unregister("infected_hosts_arrow")


def _one_column(name: str, values: list[str]) -> Any:
    import pyarrow as pa

    return pa.table({name: values})
