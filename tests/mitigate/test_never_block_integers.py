"""The integer never-block check and range-share block answer exactly as the ``ipaddress``
network comparisons they replace, on random IPv4/IPv6 addresses and every range's edges."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.mitigate.addresses import IntervalTable
from honeyguard.mitigate.guardrails import RangeShare
from honeyguard.mitigate.lists import NeverBlock, parse_network

ORG = ["45.142.0.0/16", "45.142.120.0/24", "10.20.0.0/16", "2a01:4f8::/32", "2a01:4f8:1::/48"]
SENSORS = ["198.18.0.9", "45.142.120.7", "2a01:4f8:1::5"]
BUILTIN = NeverBlock.builtin(org_ranges=ORG, sensors=SENSORS)
BUILTIN_RANGES = [str(net) for net, _ in BUILTIN._ranges]


def reference_reason(ranges: list[tuple[str, str]], value: str) -> str | None:
    """The network-by-network check as it was: the first overlapping range, else routability."""
    network = parse_network(value)
    if network is None:
        return None
    for cidr, reason in ranges:
        protected = ipaddress.ip_network(cidr, strict=False)
        if protected.version == network.version and protected.overlaps(network):
            return f"{reason} ({protected})"
    if not network.network_address.is_global or not network.broadcast_address.is_global:
        return "not globally routable"
    return None


def reference_block(value: str) -> str | None:
    network = parse_network(value)
    if network is None or network.num_addresses != 1:
        return None
    prefix = 24 if network.version == 4 else 64
    return str(ipaddress.ip_network(f"{network.network_address}/{prefix}", strict=False))


def _edges(cidrs: list[str]) -> list[str]:
    """Each range's first and last address and their neighbours (within the family)."""
    found = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        top = 2**net.max_prefixlen - 1
        for number in (
            int(net.network_address) - 1,
            int(net.network_address),
            int(net.broadcast_address),
            int(net.broadcast_address) + 1,
        ):
            if 0 <= number <= top:
                found.append(str(ipaddress.ip_address(number) if net.version == 4 else ipaddress.IPv6Address(number)))
    return found


V4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
V6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
MAPPED = st.integers(0, 2**32 - 1).map(lambda n: f"::ffff:{ipaddress.IPv4Address(n)}")
EDGES = st.sampled_from(_edges(BUILTIN_RANGES))
MAPPED_EDGES = st.sampled_from([f"::ffff:{v}" for v in _edges(BUILTIN_RANGES) if ":" not in v])
ODD = st.sampled_from(
    [
        "",
        " ",
        "not-an-ip",
        "45.142.120.7/32",
        " 8.8.8.8 ",
        "10.0.0.0/8",
        "fe80::1%eth0",
        "01.2.3.4",
        "1.2.3",
        "::ffff:10.0.0.1",
        "2a01:4f8:1::/64",
        "300.1.1.1",
        "::",
        "1.2.3.4\n",
        "1.2.3.٣",
        "0.0.0.0",
        "255.255.255.255",
        "1.2.3.0255",
        "00.1.2.3",
    ]
)
# strings shaped like dotted quads, most of them not addresses (leading zeros, big octets, blanks)
QUADISH = st.lists(st.text("0123456789 ", min_size=0, max_size=4), min_size=3, max_size=5).map(".".join)
ANY_VALUE = st.one_of(V4, V6, MAPPED, EDGES, MAPPED_EDGES, ODD, QUADISH)


@settings(max_examples=3000, deadline=None)
@given(ANY_VALUE)
def test_builtin_never_block_answers_as_the_network_check(value: str) -> None:
    ranges = [(str(net), reason) for net, reason in BUILTIN._ranges]
    assert BUILTIN.reason_for(value) == reference_reason(ranges, value)


@settings(max_examples=3000, deadline=None)
@given(ANY_VALUE)
def test_range_share_block_is_the_network_one(value: str) -> None:
    assert RangeShare.block_of(value) == reference_block(value)


def _cidr(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    return st.tuples(st.integers(0, 2**bits - 1), st.integers(0, bits)).map(
        lambda t: str(
            ipaddress.ip_network((t[0], t[1]), strict=False)
            if version == 4
            else ipaddress.IPv6Network((t[0], t[1]), strict=False)
        )
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_cidr(4), _cidr(6)), min_size=1, max_size=12), st.data())
def test_overlapping_ranges_answer_with_the_first_listed(cidrs: list[str], data: st.DataObject) -> None:
    ranges = [(cidr, f"range {i}") for i, cidr in enumerate(cidrs)]
    guard = NeverBlock(ranges)
    edges = _edges(cidrs)
    for value in data.draw(st.lists(st.one_of(st.sampled_from(edges), V4, V6, MAPPED), min_size=1, max_size=20)):
        assert guard.reason_for(value) == reference_reason(ranges, value), value


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), max_size=10), st.integers(-1, 90))
def test_interval_table_gives_the_lowest_label_holding_a_number(spans: list[tuple[int, int]], number: int) -> None:
    ranges = [(first, first + width, label) for label, (first, width) in enumerate(spans)]
    expected = min((label for first, last, label in ranges if first <= number <= last), default=None)
    assert IntervalTable(ranges).first_label(number) == expected
