"""Address ranges turned into plain SQL: string-prefix tests for the hot path, integers for the rest.

Only portable SQL is produced (starts_with/split_part/CAST exist, or have direct equivalents, in
DuckDB, Spark SQL and Trino), so the same queries run on a distributed engine over Parquet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from honeyguard.errors import HoneyguardError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CidrError(HoneyguardError):
    """An internal range given by the user is not a CIDR."""


def parse_networks(values: Iterable[str]) -> list[Network]:
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise CidrError(f"not a CIDR range: {value!r} ({exc})") from None
    return networks


def v4_prefix_test(column: str, network: ipaddress.IPv4Network) -> str:
    """True when the dotted-quad text in ``column`` lies in ``network``, without parsing the whole
    address: whole octets compare as a string prefix, a partial octet as one small integer range."""
    octets = str(network.network_address).split(".")
    whole, bits = divmod(network.prefixlen, 8)
    if whole == 4:
        return f"({column} = '{network.network_address}')"
    prefix = ".".join(octets[:whole])
    tests = [f"starts_with({column}, '{prefix}.')"] if whole else [f"contains({column}, '.')"]
    if bits:
        low = int(octets[whole])
        high = low + (1 << (8 - bits)) - 1
        tests.append(f"TRY_CAST(split_part({column}, '.', {whole + 1}) AS INTEGER) BETWEEN {low} AND {high}")
    return "(" + " AND ".join(tests) + ")"


def maybe_internal_sql(column: str, networks: list[Network]) -> str:
    """A cheap per-row test: exact for IPv4, and every IPv6 address passes (it is classified exactly
    later, on the few distinct addresses that survive the scan)."""
    tests = [v4_prefix_test(column, n) for n in networks if isinstance(n, ipaddress.IPv4Network)]
    tests.append(f"contains({column}, ':')")
    return "(" + " OR ".join(tests) + ")"


def v4_int_sql(column: str) -> str:
    """The IPv4 address in ``column`` as an integer (NULL when it is not a dotted quad)."""
    parts = [f"TRY_CAST(split_part({column}, '.', {i}) AS BIGINT)" for i in range(1, 5)]
    return f"({parts[0]} * 16777216 + {parts[1]} * 65536 + {parts[2]} * 256 + {parts[3]})"


def v4_in_networks_sql(int_column: str, networks: list[Network]) -> str:
    ranges = [
        f"{int_column} BETWEEN {int(n.network_address)} AND {int(n.broadcast_address)}"
        for n in networks
        if isinstance(n, ipaddress.IPv4Network)
    ]
    return "(" + (" OR ".join(ranges) or "FALSE") + ")"
