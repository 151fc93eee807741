"""The native reader: ``_fastscan`` folds the well-formed records, DuckDB reads everything else.

Each file is read here (gzip inflated with ISA-L, in bounded chunks) and fed to a C ``Scanner``,
which folds every line of the strict well-formed v2 shape into groups and hands back the other
lines verbatim. Those leftovers are written to a temporary file per input and read by the usual
lenient DuckDB reader, so every odd line keeps exactly the status DuckDB gives it. One thread per
core reads files; the C code releases the GIL. A file this reader cannot take whole (another
compression, a gzip with anything after its member, a read error) goes to DuckDB as it is, which
keeps today's "unreadable" verdicts exact. The extension is optional (docs/flows.md).
"""

from __future__ import annotations

import array
import importlib
import ipaddress
import itertools
import os
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, cast

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip_lib

from honeyguard.intel.flows.cidrs import Network
from honeyguard.intel.flows.settings import FlowSettings

_fastscan: ModuleType | None
try:
    _fastscan = importlib.import_module("honeyguard.intel.flows._fastscan")
except ImportError:  # no compiler at install time: the DuckDB reader does all the work
    _fastscan = None
# The stubs declare IsalError as an instance; it is an Exception subclass.
_INFLATE_ERRORS = cast(type[Exception], igzip_lib.IsalError)

CHUNK = 1 << 20  # inflated bytes handed to C per call: memory stays bounded, calls stay few
READ = 1 << 20  # compressed bytes read per call (ISA-L is fastest with ~1 MB pieces)
# Per thread: groups (~110 bytes each, table included) and beacon start times (16 bytes each);
# beyond them, lines with new keys are left to DuckDB, which spills to disk.
MAX_GROUPS = 2_000_000
MAX_STARTS = 2_000_000
# Leftover text written per input: beyond it (a file of mostly odd lines, a gzip bomb of junk) the
# file is handed to DuckDB whole, which streams it, rather than copied to the temporary folder.
LEFTOVER_LIMIT = 64 << 20
# Inflated pieces a thread keeps while the indicators file is still loading (the scanner needs the
# beacon targets from it): bounded memory, and the two cores are not idle meanwhile.
EARLY_CHUNKS = 48
# Names DuckDB's compression='auto' may treat as compressed: read by DuckDB itself unless .gz.
_OTHER_COMPRESSION = (".gzip", ".zst", ".zstd", ".tmp", ".bz2", ".xz", ".lz4", ".snappy", ".zip")


class NativeScan(msgspec.Struct):
    """What the native pass produced: scanners (one today; their groups are summed when they are
    turned into tables), leftover files (by the input they came from), and inputs DuckDB must read
    whole."""

    scanners: list[Any]
    leftovers: dict[Path, Path]
    whole: list[Path]


class _Unsupported(Exception):
    """This file is not one the native reader takes whole: DuckDB reads it."""


class _BeaconsFailed(Exception):
    """Loading the beacon targets failed (its cause is raised to the caller): no file is to blame."""


def available() -> bool:
    return _fastscan is not None


def scan(
    files: list[Path], settings: FlowSettings, internal: list[Network], beacons: Future[pa.Array], workdir: Path
) -> NativeScan:
    """Read ``files`` on one thread per core (at most one file in flight per thread). ``beacons``
    may still be loading (the indicators file): the threads inflate ahead meanwhile."""
    assert _fastscan is not None
    v4 = [n for n in internal if isinstance(n, ipaddress.IPv4Network)]
    nets = array.array("I", [int(v) for n in v4 for v in (n.network_address, n.netmask)]).tobytes()
    packed: list[bytes] = []
    queue = sorted(files, key=lambda f: f.stat().st_size, reverse=True)
    result = NativeScan(scanners=[], leftovers={}, whole=[])
    lock, packing = threading.Lock(), threading.Lock()
    numbers = itertools.count()
    errors: list[BaseException] = []

    def new_scanner(max_groups: int, max_starts: int) -> Any:
        assert _fastscan is not None
        with packing:
            if not packed:  # the first thread to need them waits for the beacon targets
                try:
                    packed.append(beacon_set(beacons.result()))
                except Exception as exc:  # the indicators' own error, not this file's
                    raise _BeaconsFailed from exc
        return _fastscan.Scanner(nets, packed[0], int(settings.scan_probe_packets), max_groups, max_starts)

    workers = min(_threads(settings), len(files)) or 1
    # One table for the run: the first file read whole keeps its scanner, every later one is merged
    # into it (under the lock: a merge takes milliseconds, a file a third of a second). The caps hold
    # per thread: a file in flight may fill its thread's share of what is left.
    shared: list[Any] = []

    def work() -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        break
                    file = queue.pop(0)
                    leftover = workdir / f"leftover-{next(numbers)}.log"
                    result.leftovers[file] = leftover
                    groups, starts = shared[0].counts() if shared else (0, 0)
                scanner = partial(new_scanner, _share(MAX_GROUPS, groups, workers), _share(MAX_STARTS, starts, workers))
                try:
                    one = _read_into(file, scanner, leftover, beacons)
                except (_Unsupported, OSError, ValueError, EOFError):
                    leftover.unlink(missing_ok=True)
                    with lock:
                        del result.leftovers[file]
                        result.whole.append(file)
                    continue
                with lock:
                    if shared:
                        shared[0].merge(one)
                    else:
                        shared.append(one)
        except BaseException as exc:  # re-raised by the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0].__cause__ if isinstance(errors[0], _BeaconsFailed) and errors[0].__cause__ else errors[0]
    result.scanners = shared or [new_scanner(0, 0)]
    return result


def _share(cap: int, used: int, workers: int) -> int:
    """One thread's share of what is left of ``cap`` per thread."""
    return max(cap * workers - used, 0) // workers


def _threads(settings: FlowSettings) -> int:
    return int(settings.threads or os.cpu_count() or 1)


def beacon_set(values: pa.Array | list[str]) -> bytes:
    """The beacon targets that are canonical dotted quads (by the C parser's own test: a record's
    destination text equals one exactly when its integer does), packed for ``Scanner``. The values
    go to C as one text of ``value \n`` lines, joined by Arrow (tens of thousands of them)."""
    assert _fastscan is not None
    texts = pa.array(values, pa.string())
    one_line_each = texts.filter(pc.invert(pc.match_substring_regex(texts, "[ \n]")))
    lines = pc.binary_join_element_wise(one_line_each, " \n", "")
    if len(lines) == 0:
        return bytes(_fastscan.ipv4_set(b""))
    offsets = lines.buffers()[1]
    start, end = (struct.unpack_from("<i", offsets, 4 * (lines.offset + at))[0] for at in (0, len(lines)))
    return bytes(_fastscan.ipv4_set(lines.buffers()[2][start:end]))


def _read_into(file: Path, new_scanner: Callable[[], Any], leftover: Path, beacons: Future[pa.Array]) -> Any:
    """The file's lines folded by a new scanner (returned), the others written to ``leftover``.
    While the beacon targets are still loading, up to EARLY_CHUNKS pieces are inflated ahead."""
    written = 0
    with open(file, "rb") as raw, open(leftover, "wb") as out:
        chunks = _chunks(file, raw)
        early: list[bytes] = []
        while not beacons.done() and len(early) < EARLY_CHUNKS and (chunk := next(chunks, None)) is not None:
            early.append(chunk)
        scanner = new_scanner()
        for chunk in itertools.chain(early, chunks):
            written += out.write(scanner.feed(chunk))
            if written > LEFTOVER_LIMIT:
                raise _Unsupported("mostly lines the native reader leaves over")
        out.write(scanner.finish())
    return scanner


def _chunks(file: Path, raw: BinaryIO) -> Iterator[bytes]:
    if file.name.endswith(".gz"):
        yield from _inflate(raw)
    elif file.name.lower().endswith((*_OTHER_COMPRESSION, ".gz")):  # '.GZ' too: DuckDB's verdict
        raise _Unsupported(file)
    else:
        while chunk := raw.read(CHUNK):
            yield chunk


def _inflate(raw: BinaryIO) -> Iterator[bytes]:
    """One gzip member, in bounded pieces. Anything after it (another member, padding) and any
    error send the file to DuckDB, whose verdict on such files is the reference."""
    inflater = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
    while not inflater.eof:
        if inflater.needs_input:
            data = raw.read(READ)
            if not data:
                raise _Unsupported("truncated gzip")
        else:
            data = b""
        try:
            piece = inflater.decompress(data, CHUNK)
        except _INFLATE_ERRORS as exc:
            raise _Unsupported(str(exc)) from None
        if piece:
            yield piece
    if inflater.unused_data or raw.read(1):
        raise _Unsupported("data after the gzip member")
