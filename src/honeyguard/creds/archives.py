"""Members of zip, tar (plain, gz, bz2, xz) and gzip archives, read within a byte budget.

Sizes declared in an archive are never trusted: every read asks for at most the member cap plus one
byte, and the budget shrinks by what was actually unpacked, so a zip bomb costs at most the budget.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from lzma import LZMAError
from typing import IO

from honeyguard.creds.limits import ScanLimits, ScanStats


class Budget:
    """Bytes that may still be unpacked from one top-level archive (shared by its nested ones)."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def take(self, stream: IO[bytes] | gzip.GzipFile, cap: int) -> tuple[bytes, bool]:
        """Read at most ``min(cap, remaining)`` bytes; True when the member was cut short."""
        allowed = min(cap, self.remaining)
        data = stream.read(allowed + 1)
        cut = len(data) > allowed
        data = data[:allowed]
        self.remaining -= len(data)
        return data, cut


def kind_of(head: bytes) -> str | None:
    """Archive format from the first bytes (magic numbers, not file names)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith((b"BZh", b"\xfd7zXZ\x00")):
        return "tar"  # compressed tar; bare .bz2/.xz files are rare in leaks
    return None


def members(source: IO[bytes], kind: str, label: str, budget: Budget, limits: ScanLimits,
            stats: ScanStats) -> Iterator[tuple[str, bytes]]:
    """(label!member, content) for each regular member, within limits; damage becomes a warning."""
    try:
        if kind == "zip":
            yield from _zip_members(source, label, budget, limits, stats)
        elif kind == "gzip":
            yield from _gzip_members(source, label, budget, limits, stats)
        else:
            yield from _tar_members(source, label, budget, limits, stats, mode="r:*")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError, zlib.error, LZMAError) as exc:
        stats.warn(f"{label}: unreadable archive ({type(exc).__name__}: {exc})")


def _zip_members(source: IO[bytes], label: str, budget: Budget, limits: ScanLimits,
                 stats: ScanStats) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(source) as archive:
        for count, info in enumerate(archive.infolist()):
            if count >= limits.max_members or budget.remaining <= 0:
                stats.warn(f"{label}: archive limits reached, rest skipped")
                return
            if info.is_dir():
                continue
            try:
                with archive.open(info) as stream:
                    data, cut = budget.take(stream, limits.max_member_bytes)
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError, EOFError,
                    zlib.error) as exc:
                stats.warn(f"{label}!{info.filename}: skipped ({exc})")  # encrypted, unknown method
                continue
            if cut:
                stats.warn(f"{label}!{info.filename}: only the first {len(data)} bytes scanned")
            yield f"{label}!{info.filename}", data


def _tar_members(source: IO[bytes], label: str, budget: Budget, limits: ScanLimits,
                 stats: ScanStats, mode: str) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=source, mode=mode) as archive:  # type: ignore[call-overload]
        for count, member in enumerate(archive):
            # walking headers of a compressed tar decompresses what lies between them: stop once
            # that exceeds the budget, so a tar.gz bomb costs time bounded by the budget too
            if count >= limits.max_members or member.offset > limits.max_archive_bytes \
                    or budget.remaining <= 0:
                stats.warn(f"{label}: archive limits reached, rest skipped")
                return
            if not member.isfile():
                continue
            stream = archive.extractfile(member)
            if stream is None:
                continue
            data, cut = budget.take(stream, limits.max_member_bytes)
            if cut:
                stats.warn(f"{label}!{member.name}: only the first {len(data)} bytes scanned")
            yield f"{label}!{member.name}", data


def _gzip_members(source: IO[bytes], label: str, budget: Budget, limits: ScanLimits,
                  stats: ScanStats) -> Iterator[tuple[str, bytes]]:
    """A .tar.gz is a tar; a bare .gz is one member named after the file."""
    with gzip.GzipFile(fileobj=source) as stream:
        head = stream.read(512)
    source.seek(0)
    if len(head) >= 262 and head[257:262] == b"ustar":
        yield from _tar_members(source, label, budget, limits, stats, mode="r:gz")
        return
    with gzip.GzipFile(fileobj=source) as stream:
        data, cut = budget.take(stream, limits.max_member_bytes)
    if cut:
        stats.warn(f"{label}: only the first {len(data)} bytes scanned")
    inner = label.rsplit("/", 1)[-1].removesuffix(".gz") or "data"
    yield f"{label}!{inner}", data


def as_stream(data: bytes) -> IO[bytes]:
    return io.BytesIO(data)
