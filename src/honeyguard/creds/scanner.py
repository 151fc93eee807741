"""Walk what the user named (files, folders, archives, notebooks, stdin, git history) and scan it."""

from __future__ import annotations

import mmap
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import msgspec

from honeyguard.creds import archives
from honeyguard.creds.detector import Buffer, ScanOptions, contains_candidate, scan_buffer
from honeyguard.creds.finding import Hit, Origin
from honeyguard.creds.limits import ScanInputError, ScanLimits, ScanStats
from honeyguard.creds.notebook import notebook_parts

HEAD_BYTES = 8192  # enough to see archive magic, tar headers and a NUL in a binary file
SKIP_DIRS = frozenset({".git", ".hg", ".svn"})
STDIN = "-"


class ScanResult(msgspec.Struct, kw_only=True):
    hits: list[Hit]
    stats: ScanStats


class Scanner:
    def __init__(self, options: ScanOptions | None = None, limits: ScanLimits | None = None) -> None:
        self.options = options or ScanOptions()
        self.limits = limits or ScanLimits()
        self.stats = ScanStats()
        self.hits: list[Hit] = []

    # -- entry points -------------------------------------------------------------------------

    def scan_paths(self, paths: Iterable[str], *, git: bool = False,
                   stdin: IO[bytes] | None = None) -> ScanResult:
        targets = list(paths)
        for target in targets:  # check them all first: a typo fails before a long scan starts
            if target != STDIN and not os.path.lexists(target):
                raise ScanInputError(f"{target}: no such file or directory")
        for target in targets:
            if target == STDIN:
                self.scan_stream(stdin or sys.stdin.buffer, "<stdin>")
            elif git:
                from honeyguard.creds.gitscan import scan_history

                scan_history(Path(target), self)
            elif os.path.isdir(target):
                self.scan_dir(Path(target))
            else:
                self.scan_file(Path(target))
        return ScanResult(hits=self.hits, stats=self.stats)

    def scan_stream(self, stream: IO[bytes], label: str) -> None:
        data = stream.read(self.limits.max_stdin_bytes + 1)
        if len(data) > self.limits.max_stdin_bytes:
            self.stats.warn(f"{label}: only the first {self.limits.max_stdin_bytes} bytes scanned")
            data = data[: self.limits.max_stdin_bytes]
        self.scan_content(data, label, depth=0, budget=None)

    def scan_dir(self, root: Path) -> None:
        for folder, dirs, files in os.walk(root, onerror=self._walk_error):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                self.scan_file(Path(folder) / name)

    def scan_file(self, path: Path) -> None:
        label = str(path)
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                return  # symlinks, FIFOs, devices: never followed, never opened (a FIFO would hang)
            with path.open("rb") as handle:
                self._scan_open_file(handle, info.st_size, label)
        except OSError as exc:
            self.stats.warn(f"{label}: unreadable ({exc.strerror or exc})")
        except ValueError as exc:  # mmap of a file truncated while we looked at it
            self.stats.warn(f"{label}: changed while scanned ({exc})")

    # -- one buffer -----------------------------------------------------------------------------

    def _scan_open_file(self, handle: IO[bytes], size: int, label: str) -> None:
        if size == 0:
            return
        head = handle.read(HEAD_BYTES)
        kind = archives.kind_of(head)
        if kind is not None:
            handle.seek(0)
            self._scan_archive(handle, kind, label, depth=0, budget=None)
            return
        if b"\0" in head:
            self.stats.binary_skipped += 1
            return
        if label.endswith(".ipynb") and size <= self.limits.max_notebook_bytes:
            self._scan_text(head + handle.read(), label)
            return
        if size < self.limits.mmap_from_bytes:
            self._scan_plain(head + handle.read(), Origin(file=label))
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            self._scan_plain(mapped, Origin(file=label))

    def scan_content(self, data: bytes, label: str, *, depth: int, budget: archives.Budget | None) -> None:
        """Any bytes whose type is unknown: an archive member, stdin."""
        head = data[:HEAD_BYTES]
        kind = archives.kind_of(head)
        if kind is not None:
            if depth >= self.limits.max_archive_depth:
                self.stats.warn(f"{label}: archive nested deeper than {self.limits.max_archive_depth}")
                return
            self._scan_archive(archives.as_stream(data), kind, label, depth=depth, budget=budget)
            return
        if b"\0" in head:
            self.stats.binary_skipped += 1
            return
        self._scan_text(data, label)

    def _scan_archive(self, source: IO[bytes], kind: str, label: str, *, depth: int,
                      budget: archives.Budget | None) -> None:
        self.stats.archives += 1
        budget = budget or archives.Budget(self.limits.max_archive_bytes)
        for member_label, data in archives.members(source, kind, label, budget, self.limits, self.stats):
            self.scan_content(data, member_label, depth=depth + 1, budget=budget)

    def _scan_text(self, data: bytes, label: str) -> None:
        if label.endswith(".ipynb") and len(data) <= self.limits.max_notebook_bytes:
            parts = notebook_parts(data, label)
            if parts is not None:
                self.stats.files += 1
                self.stats.bytes += len(data)
                for origin, text in parts:
                    self._scan_buffer(text, origin)
                return
        self._scan_plain(data, Origin(file=label))

    def _scan_plain(self, data: Buffer, origin: Origin) -> None:
        self.stats.files += 1
        self.stats.bytes += len(data)
        self._scan_buffer(data, origin)

    def _scan_buffer(self, data: Buffer, origin: Origin) -> None:
        if contains_candidate(data):
            self.hits.extend(scan_buffer(data, origin, self.options))

    def _walk_error(self, error: OSError) -> None:
        self.stats.warn(f"{error.filename}: unreadable ({error.strerror})")

    def add_git_buffer(self, data: bytes, origin: Origin) -> None:
        self.stats.bytes += len(data)
        self._scan_buffer(data, origin)
