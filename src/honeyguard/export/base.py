"""The exporter contract and the helpers every format shares.

Exports run over a million decisions, so the helpers here avoid a Python object per decision
where they can: one pass to pick what is in force, a sort on an attribute that already exists
(no key tuple per decision), and output written in large joined chunks.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
import socket
from collections.abc import Iterable
from datetime import datetime
from functools import cache, lru_cache
from itertools import compress, islice
from operator import attrgetter, eq
from typing import Protocol, TextIO

from honeyguard.errors import HoneyguardError
from honeyguard.model.decision import Decision


class ExportError(HoneyguardError):
    """A format cannot express what was asked (e.g. over a hard size limit)."""


class Exporter(Protocol):
    name: str  # the --format name
    filename: str  # the file written by `export --all DIR`
    description: str

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        """Write the format, reading ``decisions`` once. Same decisions and time in, same bytes out."""
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


def render(name: str, decisions: Iterable[Decision], now: datetime) -> str:
    registry = exporter_registry()
    if name not in registry:
        raise ExportError(f"unknown format {name!r} (known: {', '.join(sorted(registry))})")
    buffer = io.StringIO()
    registry[name].write(decisions, now, buffer)
    return buffer.getvalue()


def in_force(decisions: Iterable[Decision], now: datetime, actions: tuple[str, ...] = ("drop",),
             types: tuple[str, ...] | None = None) -> list[Decision]:
    """Decisions in force now (not withdrawn, not expired, not simulated), in the order given."""
    return [d for d in decisions if (types is None or d.type in types) and d.action in actions
            and d.withdrawn_at is None and d.expires_at > now and not d.simulated]


def active(decisions: Iterable[Decision], now: datetime, actions: tuple[str, ...] = ("drop",),
           types: tuple[str, ...] | None = None) -> list[Decision]:
    """Decisions in force now, in a stable order: (type, value, direction, action, id)."""
    return in_stable_order(in_force(decisions, now, actions, types))


_VALUE = attrgetter("value")
_TYPE = attrgetter("type")


def stable_key(d: Decision) -> tuple[str, str, str, str, str]:
    return (d.type, d.value, d.direction, d.action, d.id)


def in_stable_order(chosen: list[Decision]) -> list[Decision]:
    """Sorted by ``stable_key`` without a key tuple per decision: split by type (few), sort each part
    by value, then put right the rare runs that share a value with the full key.

    Whether any value repeats is asked before sorting, in the order given: that is memory order, and a
    pass over a million decisions in sorted order costs several times more (a cache miss each)."""
    ordered: list[Decision] = []
    for type_ in sorted(set(map(_TYPE, chosen))):
        part = [d for d in chosen if d.type == type_]
        repeats = len(set(map(_VALUE, part))) < len(part)
        part.sort(key=_VALUE)
        if repeats:
            _fix_repeats(part)
        ordered += part
    return ordered


def _fix_repeats(part: list[Decision]) -> None:
    """Runs of one value (adjacent once sorted by value) sorted by the full key."""
    repeats = compress(range(1, len(part)), map(eq, map(_VALUE, part), map(_VALUE, islice(part, 1, None))))
    run_start = run_end = -1
    for index in repeats:
        if index != run_end + 1:
            _sort_run(part, run_start, run_end)
            run_start = index - 1
        run_end = index
    _sort_run(part, run_start, run_end)


def _sort_run(chosen: list[Decision], start: int, end: int) -> None:
    if start >= 0:
        chosen[start:end + 1] = sorted(chosen[start:end + 1], key=stable_key)


def seconds_left(decision: Decision, now: datetime) -> int:
    return max(1, int((decision.expires_at - now).total_seconds()))


_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/=:-]")


def label(decision: Decision, limit: int = 120) -> str:
    """The indicator id, roles and confidence, safe inside any quoted comment."""
    # The same as cleaning the whole line: the cleaning is per character, the literal parts are safe.
    roles = _label_roles(tuple(decision.roles))
    return f"hg {_UNSAFE.sub('', decision.indicator_id)} {roles} conf={decision.confidence}"[:limit]


@lru_cache(maxsize=1024)  # few distinct role sets; one join and clean each instead of one a line
def _label_roles(roles: tuple[str, ...]) -> str:
    return _UNSAFE.sub("", "/".join(roles) or "unknown")


def write_chunked(out: TextIO, lines: Iterable[str], chunk: int = 8192) -> None:
    """Write many short strings as few large writes (one write call per line costs more than the line)."""
    iterator = iter(lines)
    while block := "".join(islice(iterator, chunk)):
        out.write(block)


# -- addresses and networks ------------------------------------------------------------------

_MASKS = {bits: [((1 << bits) - 1) ^ ((1 << (bits - p)) - 1) for p in range(bits + 1)] for bits in (32, 128)}


def parse_network(value: str) -> tuple[int, int, int] | None:
    """(version, first address as an int, prefix), or None for what is not an address or network."""
    addr, _, plen = value.partition("/")
    six = ":" in addr
    try:
        number = int.from_bytes(socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, addr), "big")
        prefix = int(plen) if plen else (128 if six else 32)
    except (OSError, ValueError):
        return None
    bits = 128 if six else 32
    if not 0 <= prefix <= bits:
        return None
    return (6 if six else 4), number & _MASKS[bits][prefix], prefix


def network_text(version: int, start: int, prefix: int) -> str:
    """Canonical text: first address (inet_ntop form) and prefix, e.g. 45.142.121.0/24."""
    if version == 4:
        return f"{socket.inet_ntoa(start.to_bytes(4, 'big'))}/{prefix}"
    return f"{socket.inet_ntop(socket.AF_INET6, start.to_bytes(16, 'big'))}/{prefix}"


def is_plain_ipv4(value: str) -> bool:
    """A plain IPv4 address, already in canonical form (inet_pton takes only that form)."""
    try:
        socket.inet_pton(socket.AF_INET, value)
    except (OSError, ValueError):
        return False
    return True


def network_of(value: str) -> tuple[int, str] | None:
    """(version, canonical text) of an address or network, or None."""
    if "/" not in value and ":" not in value:
        return (4, value + "/32") if is_plain_ipv4(value) else None
    parsed = parse_network(value)
    return None if parsed is None else (parsed[0], network_text(*parsed))

