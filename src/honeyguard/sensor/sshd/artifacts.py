"""Uploaded files, kept content-addressed: <data_dir>/artifacts/<sha256>.

A file is streamed: hashed whole, written to a temporary file while it fits the cap, and
renamed to its hash at the end. Past the cap it is still hashed (the event has the real size
and sha256) but no longer stored, so an upload never grows memory or disk without bound.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

_TMP_PREFIX = ".partial-"


class ArtifactWriter:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None
        self._overflow = False
        self.sha256 = ""
        self.stored = False

    def feed(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        if self._overflow:
            return
        if self.size > self.max_bytes:
            self._overflow = True
            self._discard()
            return
        if self._file is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._tmp = self.root / f"{_TMP_PREFIX}{os.getpid()}-{id(self):x}"
            self._file = open(self._tmp, "wb")  # noqa: SIM115 - kept open across feeds, closed in finish
        self._file.write(data)

    def finish(self) -> tuple[str, int, bool]:
        """(sha256, size, stored) of everything fed."""
        self.sha256 = self._hash.hexdigest()
        if self._overflow:
            return self.sha256, self.size, False
        if self._file is None:  # an empty file is an artifact too
            self.root.mkdir(parents=True, exist_ok=True)
            self._tmp = self.root / f"{_TMP_PREFIX}{os.getpid()}-{id(self):x}"
            self._file = open(self._tmp, "wb")  # noqa: SIM115
        self._file.close()
        self._file = None
        final = self.root / self.sha256
        assert self._tmp is not None
        if final.exists():
            self._tmp.unlink(missing_ok=True)
        else:
            os.replace(self._tmp, final)
        self.stored = True
        return self.sha256, self.size, True

    def abort(self) -> None:
        """The transfer broke off: keep nothing."""
        self._overflow = True
        self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
