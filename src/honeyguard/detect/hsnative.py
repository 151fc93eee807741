"""The Hyperscan libraries the engine scans with, behind one interface: ``scan(text) -> int``.

A scan answers with the ids of the expressions that matched as the bits of one int (bit i set:
id i matched). The engine ORs those across a request's fields and looks the int up in its
decision tables: no set is built for a request.

* native (``_hsnative``, C, linked against the system libhs): the match callback is C, so a scan
  costs no Python call per match. Built when libhyperscan-dev is installed (optional).
* pip (the ``hyperscan`` wheel's binding): a Python callback per match; the fallback.

Both compile the same expressions, ids and flags (hs.h's flag values are the same in both), so
they agree on every input; a test checks it on every rule example.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from honeyguard.detect.httpsplit import SplitRequest

_native: ModuleType | None
try:
    _native = importlib.import_module("honeyguard.detect._hsnative")
except ImportError:  # no libhs headers at install time, or a CPU Hyperscan cannot run on
    _native = None

_pip: Any
try:  # Hyperscan's pip wheel is x86-64 only; elsewhere the re matcher does the work
    import hyperscan as _pip
except ImportError:  # pragma: no cover - depends on the platform
    _pip = None

NATIVE_AVAILABLE = _native is not None
PIP_AVAILABLE = _pip is not None

# hs.h's flags (the same values in both libraries)
CASELESS, MULTILINE, SINGLEMATCH, PREFILTER = 1, 4, 8, 128


class ScanDatabase(Protocol):
    def scan(self, text: bytes, /) -> int: ...

    def scan_many(self, texts: list[bytes], /) -> list[int]: ...


class HsLib(Protocol):
    name: str
    error: type[Exception]
    version: str

    def compile(self, expressions: list[bytes], ids: list[int], flags: list[int]) -> ScanDatabase: ...

    def dump(self, database: ScanDatabase) -> bytes: ...

    def load(self, blob: bytes, max_id: int) -> ScanDatabase: ...


def mask_ids(mask: int) -> set[int]:
    """The ids whose bits are set (for the rare answers not yet in a decision table)."""
    bits = bin(mask)[:1:-1]  # lowest bit first
    return {at for at, bit in enumerate(bits) if bit == "1"}


def id_mask(ids: Iterable[int]) -> int:
    mask = 0
    for at in ids:
        mask |= 1 << at
    return mask


class NativeLib:
    """``_hsnative``: databases scanned in C, hits returned as an int."""

    name = "hyperscan-native"

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self.error: type[Exception] = module.error
        self.version = "native " + str(module.version())

    def compile(self, expressions: list[bytes], ids: list[int], flags: list[int]) -> ScanDatabase:
        database: ScanDatabase = self._module.compile(expressions, ids, flags)
        return database

    def dump(self, database: ScanDatabase) -> bytes:
        blob: bytes = database.serialize()  # type: ignore[attr-defined]
        return blob

    def load(self, blob: bytes, max_id: int) -> ScanDatabase:
        database: ScanDatabase = self._module.deserialize(blob, max_id)
        return database


def _collect(atom_id: int, _start: int, _end: int, _flags: int, found: list[int]) -> None:
    found.append(atom_id)


class _PipDatabase:
    """A pip-binding database with the native scan's answer (one Python callback per match)."""

    __slots__ = ("database",)

    def __init__(self, database: Any) -> None:
        self.database = database

    def scan(self, text: bytes, /) -> int:
        if not text:
            return 0  # (as the native scan answers; the engine skips empty fields anyway)
        found: list[int] = []
        self.database.scan(text, _collect, 0, found)  # positional: keywords cost the binding ~0.6 us
        return id_mask(found)

    def scan_many(self, texts: list[bytes], /) -> list[int]:
        return [self.scan(text) for text in texts]


class PipLib:
    """The ``hyperscan`` wheel's binding."""

    name = "hyperscan-pip"

    def __init__(self, module: Any) -> None:
        self._module = module
        self.error: type[Exception] = module.error
        # (what the on-disk cache's digests always held: files written before stay valid)
        self.version = str(getattr(module, "__version__", ""))

    def compile(self, expressions: list[bytes], ids: list[int], flags: list[int]) -> ScanDatabase:
        database = self._module.Database(mode=self._module.HS_MODE_BLOCK)  # (it keeps its own scratch)
        database.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
        return _PipDatabase(database)

    def dump(self, database: ScanDatabase) -> bytes:
        assert isinstance(database, _PipDatabase)
        blob: bytes = self._module.dumpb(database.database)
        return blob

    def load(self, blob: bytes, max_id: int) -> ScanDatabase:
        database = self._module.loadb(blob, self._module.HS_MODE_BLOCK)
        database.scratch = self._module.Scratch(database)
        return _PipDatabase(database)


NATIVE: HsLib | None = NativeLib(_native) if _native is not None else None
# The module's other helpers (None without it), for the HTTP subject: exactly what httpsplit's
# functions give (tests compare them on random input), without a Python object for every piece.
#: (head, limit) -> the (name, value) pairs of an unfolded head after its first line, as
#: httpsplit.split_http makes them
split_header_lines: Callable[[bytes, int], list[tuple[bytes, bytes]]] | None = (
    _native.split_header_lines if _native is not None else None
)
#: (raw, limit, request line, SplitRequest) -> SplitRequest(*line, headers, body) of raw bytes whose
#: head holds no folded line (else None), as httpsplit.split_http makes them
split_head: Callable[[bytes, int, tuple[bytes, bytes, bytes], type[SplitRequest]], SplitRequest | None] | None = (
    _native.split_head if _native is not None else None
)
#: data -> (method, target, version) of its first line, or None: httpsplit.split_request_line
split_request_line: Callable[[bytes], tuple[bytes, bytes, bytes] | None] | None = (
    _native.split_request_line if _native is not None else None
)
PIP: HsLib | None = PipLib(_pip) if _pip is not None else None
