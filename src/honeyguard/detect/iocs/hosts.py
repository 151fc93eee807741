"""What a host named in a payload is: a routable IP, a domain, a mining pool, or neither.

Payload hosts repeat across requests (one dropper host in thousands of exploits): the IP parse
is memoised, bounded, and the function pure.
"""

from __future__ import annotations

import functools
import ipaddress

from honeyguard.detect.iocs import patterns as P

_POOLS = frozenset(P.MINING_POOL_DOMAINS)
_POOL_SUFFIXES = tuple("." + pool for pool in P.MINING_POOL_DOMAINS)


def pool_role(domain: str, role: str) -> str:
    if domain in _POOLS or domain.endswith(_POOL_SUFFIXES):
        return "miner-pool"
    return role


_IPV4_CHARS = frozenset("0123456789.")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(name: str) -> _Address | None:
    """``name`` as an IP address, or None."""
    # an address is digits and dots, or has a ':': a domain name never reaches ipaddress's parsers,
    # whose failures (two exceptions a name) cost more than the rest of the host's checks
    if ":" not in name and not _IPV4_CHARS.issuperset(name):
        return None
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


NOT_IP, ROUTABLE, UNROUTABLE = "not-ip", "routable", "unroutable"


@functools.lru_cache(maxsize=16384)
def ip_kind(name: str) -> str:
    """Whether ``name`` is an IP address, and one an attacker can be reached at (memoised)."""
    address = _address(name)
    if address is None:
        return NOT_IP
    return ROUTABLE if _routable(address) else UNROUTABLE


def is_ip(name: str) -> bool:
    return ip_kind(name) is not NOT_IP


def _routable(address: _Address) -> bool:
    return not (
        address.is_loopback
        or address.is_unspecified
        or address.is_multicast
        or address.is_link_local
        or str(address) == "255.255.255.255"
    )


def is_domain(name: str) -> bool:
    labels = name.split(".")
    if len(labels) < 2 or not all(labels):
        return False
    tld = labels[-1]
    return tld.isascii() and tld.isalpha() and 2 <= len(tld) <= 24


def host_like(host: bytes) -> bool:
    """An IP, or a domain with a common TLD that is not a file name (``x.sh`` is a file)."""
    name = host.decode("latin-1").lower()
    if is_ip(name):
        return True
    labels = name.split(".")
    return len(labels) >= 2 and labels[-1] in P.BARE_TLDS and labels[-1] not in P.FILE_SUFFIXES
