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
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, cast

import duckdb
import msgspec
import pyarrow as pa
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
# Names DuckDB's compression='auto' may treat as compressed: read by DuckDB itself unless .gz.
_OTHER_COMPRESSION = (".gzip", ".zst", ".zstd", ".tmp", ".bz2", ".xz", ".lz4", ".snappy", ".zip")


class NativeScan(msgspec.Struct):
    """What the native pass produced: per-thread scanners, leftover files (by the input they came
    from), and inputs DuckDB must read whole."""

    scanners: list[Any]
    leftovers: dict[Path, Path]
    whole: list[Path]


class _Unsupported(Exception):
    """This file is not one the native reader takes whole: DuckDB reads it."""


def available() -> bool:
    return _fastscan is not None


def scan(
    files: list[Path], settings: FlowSettings, internal: list[Network], beacons: list[str], workdir: Path
) -> NativeScan:
    """Read ``files`` on one thread per core (at most one file in flight per thread)."""
    assert _fastscan is not None
    v4 = [n for n in internal if isinstance(n, ipaddress.IPv4Network)]
    nets = array.array("I", [int(v) for n in v4 for v in (n.network_address, n.netmask)]).tobytes()
    beacon = beacon_set(beacons)
    queue = sorted(files, key=lambda f: f.stat().st_size, reverse=True)
    result = NativeScan(scanners=[], leftovers={}, whole=[])
    lock = threading.Lock()
    numbers = itertools.count()
    errors: list[BaseException] = []

    def new_scanner(max_groups: int, max_starts: int) -> Any:
        assert _fastscan is not None
        return _fastscan.Scanner(nets, beacon, int(settings.scan_probe_packets), max_groups, max_starts)

    def work() -> None:
        total = new_scanner(MAX_GROUPS, MAX_STARTS)
        try:
            while True:
                with lock:
                    if not queue:
                        break
                    file = queue.pop(0)
                    leftover = workdir / f"leftover-{next(numbers)}.log"
                    result.leftovers[file] = leftover
                groups, starts = total.counts()
                one = new_scanner(max(MAX_GROUPS - groups, 0), max(MAX_STARTS - starts, 0))
                try:
                    _read_into(file, one, leftover)
                except (_Unsupported, OSError, ValueError, EOFError):
                    leftover.unlink(missing_ok=True)
                    with lock:
                        del result.leftovers[file]
                        result.whole.append(file)
                    continue
                total.merge(one)
        except BaseException as exc:  # re-raised by the caller's thread
            errors.append(exc)
        with lock:
            result.scanners.append(total)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(_threads(settings), len(files)) or 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for other in result.scanners[1:]:  # one set of groups: pre then needs no re-grouping
        result.scanners[0].merge(other)
    del result.scanners[1:]
    return result


def _threads(settings: FlowSettings) -> int:
    return int(settings.threads or os.cpu_count() or 1)


def beacon_set(values: list[str]) -> bytes:
    """The beacon targets that are canonical dotted quads (by the C parser's own test: a record's
    destination text equals one exactly when its integer does), packed for ``Scanner``."""
    assert _fastscan is not None
    lines = "".join(f"{v} \n" for v in values if " " not in v and "\n" not in v)
    return bytes(_fastscan.ipv4_set(lines.encode("utf-8", "surrogateescape")))


def _read_into(file: Path, scanner: Any, leftover: Path) -> None:
    written = 0
    with open(file, "rb") as raw, open(leftover, "wb") as out:
        for chunk in _chunks(file, raw):
            written += out.write(scanner.feed(chunk))
            if written > LEFTOVER_LIMIT:
                raise _Unsupported("mostly lines the native reader leaves over")
        out.write(scanner.finish())


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


def _int64(buffer: bytes, count: int) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(buffer)])


def _text(offsets: bytes, text: bytes, count: int) -> pa.Array:
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def arrow_tables(scanner: Any) -> tuple[pa.Table, pa.Table]:
    """(groups, starts) of one scanner as Arrow tables; ``g`` joins a start to its group."""
    count, starts = scanner.counts()
    b = scanner.export()
    groups = pa.table(
        {
            "g": pa.array(range(count), pa.int64()),
            "src": _text(b[0], b[1], count),
            "dst": _text(b[2], b[3], count),
            **{
                name: _int64(b[4 + i], count)
                for i, name in enumerate(
                    (
                        "port",
                        "from_client",
                        "proto",
                        "flows",
                        "accepted_flows",
                        "probe_flows",
                        "max_bytes",
                        "first_seen",
                        "last_seen",
                    )
                )
            },
            "bytes": pa.Array.from_buffers(pa.decimal128(38, 0), count, [None, pa.py_buffer(b[13])]),
        }
    )
    start_table = pa.table({"g": _int64(b[14], starts), "t": _int64(b[15], starts), "p": _int64(b[16], starts)})
    return groups, start_table


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


def create_pre(con: duckdb.DuckDBPyConnection, native: NativeScan, rest: str, ok: int, inbound_rejected: int) -> None:
    """CREATE ``pre`` from the native groups and the DuckDB-read rest (table ``rest``, same shape).
    A key present in both is summed as one; when the rest holds no analysed record (the usual case:
    headers only) the native groups are taken as they are, without a second grouping."""
    (scanner,) = native.scanners
    groups, starts = arrow_tables(scanner)
    con.register("native_groups", groups)
    con.register("native_starts", starts)
    folded = f"""
      SELECT CAST({ok} AS UTINYINT) AS status, src, dst, port, from_client = 1 AS from_client, proto, flows,
             accepted_flows, probe_flows, CAST(bytes AS HUGEINT) AS bytes, max_bytes, first_seen, last_seen, s.starts
      FROM native_groups LEFT JOIN (SELECT g, list({{'t': t, 'p': p}}) AS starts
                                    FROM native_starts GROUP BY g) s USING (g)"""
    rest_parts = [f"SELECT status, {_GROUP_COLUMNS}, starts FROM {rest}"]
    rejected = scanner.rejected()
    if rejected is not None:
        flows, accepted, probes, total, biggest, first, last = (int(v) for v in rejected)
        rest_parts.append(f"""
          SELECT {inbound_rejected}, NULL, NULL, NULL, NULL, NULL, {flows}, {accepted}, {probes},
                 CAST('{total}' AS HUGEINT), {biggest}, {first}, {last}, NULL""")
    overlap = con.execute(f"SELECT count(*) FROM {rest} WHERE status = {ok}").fetchone()
    try:
        if overlap and overlap[0]:
            query = _SUMMED.format(parts=" UNION ALL ".join([folded, *rest_parts]))
        else:
            query = f"{folded} UNION ALL {_SUMMED.format(parts=' UNION ALL '.join(rest_parts))}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE pre AS {query}")
    finally:
        con.unregister("native_groups")
        con.unregister("native_starts")
