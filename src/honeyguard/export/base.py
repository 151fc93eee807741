"""The exporter contract and the helpers every format shares."""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Protocol, TextIO

from honeyguard.errors import HoneyguardError
from honeyguard.model.decision import Decision


class ExportError(HoneyguardError):
    """A format cannot express what was asked (e.g. over a hard size limit)."""


class Exporter(Protocol):
    name: str  # the --format name
    filename: str  # the file written by `export --all DIR`
    description: str

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        """Write the format. Same decisions and time in, same bytes out."""
        ...


@cache
def exporter_registry() -> dict[str, Exporter]:
    import honeyguard.export as package

    found: dict[str, Exporter] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for exporter in getattr(module, "EXPORTERS", ()):
            found[exporter.name] = exporter
    return found


def render(name: str, decisions: Sequence[Decision], now: datetime) -> str:
    registry = exporter_registry()
    if name not in registry:
        raise ExportError(f"unknown format {name!r} (known: {', '.join(sorted(registry))})")
    buffer = io.StringIO()
    registry[name].write(decisions, now, buffer)
    return buffer.getvalue()


def active(decisions: Iterable[Decision], now: datetime, actions: tuple[str, ...] = ("drop",),
           types: tuple[str, ...] | None = None) -> list[Decision]:
    """Decisions in force now (not withdrawn, not expired, not simulated), in a stable order."""
    chosen = [
        d for d in decisions
        if d.action in actions and d.withdrawn_at is None and d.expires_at > now and not d.simulated
        and (types is None or d.type in types)
    ]
    chosen.sort(key=lambda d: (d.type, d.value, d.direction, d.action, d.id))
    return chosen


def seconds_left(decision: Decision, now: datetime) -> int:
    return max(1, int((decision.expires_at - now).total_seconds()))


_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/=:-]")


def label(decision: Decision, limit: int = 120) -> str:
    """The indicator id, roles and confidence, safe inside any quoted comment."""
    roles = "/".join(decision.roles) or "unknown"
    return _UNSAFE.sub("", f"hg {decision.indicator_id} {roles} conf={decision.confidence}")[:limit]


class Net:
    """An address or network parsed once: family, first address as an int, prefix, canonical text."""

    __slots__ = ("decision", "end", "prefix", "start", "text", "version")

    def __init__(self, decision: Decision, version: int, start: int, prefix: int, text: str) -> None:
        self.decision = decision
        self.version = version
        self.start = start
        self.prefix = prefix
        self.text = text
        self.end = start + (1 << ((32 if version == 4 else 128) - prefix)) - 1


def parse_net(decision: Decision) -> Net | None:
    """Fast path through the socket module; None for what is not an address or network."""
    addr, _, plen = decision.value.partition("/")
    family_, bits, size = (socket.AF_INET6, 128, 16) if ":" in addr else (socket.AF_INET, 32, 4)
    try:
        number = int.from_bytes(socket.inet_pton(family_, addr), "big")
        prefix = int(plen) if plen else bits
    except (OSError, ValueError):
        return None
    if not 0 <= prefix <= bits:
        return None
    start = number & (((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1))
    text = f"{socket.inet_ntop(family_, start.to_bytes(size, 'big'))}/{prefix}"
    return Net(decision, 4 if bits == 32 else 6, start, prefix, text)


def parsed_networks(decisions: Iterable[Decision]) -> list[Net]:
    """Each address or network decision parsed once (what is not one is left out)."""
    return [net for net in map(parse_net, decisions) if net is not None]


def merged_networks(nets: Iterable[Net], version: int, direction: str | None = None) -> list[Net]:
    """One entry per network of ``version`` (and ``direction``: ``both`` counts for each), networks
    inside a kept range dropped, the longest expiry kept."""
    best: dict[tuple[int, int], Net] = {}
    for net in nets:
        if net.version != version or (direction is not None and net.decision.direction not in (direction, "both")):
            continue
        key = (net.start, net.prefix)
        if key not in best or net.decision.expires_at > best[key].decision.expires_at:
            best[key] = net
    kept: list[Net] = []
    for net in sorted(best.values(), key=lambda n: (n.start, n.prefix)):
        if kept and net.end <= kept[-1].end:
            continue  # covered by the enclosing range before it
        kept.append(net)
    return kept
