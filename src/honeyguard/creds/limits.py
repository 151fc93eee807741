"""Caps that keep a hostile input (zip bomb, endless stdin, huge notebook) from exhausting memory."""

from __future__ import annotations

from typing import Annotated

import msgspec

from honeyguard.errors import HoneyguardError

MiB = 1024 * 1024
Positive = Annotated[int, msgspec.Meta(ge=1)]


class ScanLimits(msgspec.Struct, kw_only=True, frozen=True):
    max_archive_depth: Annotated[int, msgspec.Meta(ge=0)] = 3  # archives inside archives
    max_archive_bytes: Positive = 512 * MiB  # bytes unpacked from one archive, nesting included
    max_member_bytes: Positive = 64 * MiB  # bytes read from one archive member (the rest is skipped)
    max_members: Positive = 100_000  # members read from one archive
    max_stdin_bytes: Positive = 1024 * MiB
    max_notebook_bytes: Positive = 64 * MiB  # larger notebooks are scanned as plain text
    mmap_from_bytes: Positive = 1 * MiB  # files this large are memory-mapped instead of read


class ScanInputError(HoneyguardError):
    """A path to scan is missing or unreadable, or git cannot read a repository."""


class ScanStats(msgspec.Struct, kw_only=True):
    files: int = 0
    bytes: int = 0
    binary_skipped: int = 0
    archives: int = 0
    commits: int = 0
    warnings: list[str] = msgspec.field(default_factory=list)

    def warn(self, message: str) -> None:
        if len(self.warnings) < 1000:  # bounded: a hostile tree cannot grow this forever
            self.warnings.append(message)
