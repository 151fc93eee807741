"""One file arriving over SCP or SFTP: streamed into an artifact, recorded once as an Upload.

The connection keeps every upload in progress, so that a transfer cut off by the client (or by a
cap) is still recorded, with what arrived, before the connection's session.closed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from honeyguard.model import Upload
from honeyguard.sensor.shell.fs import FsError

if TYPE_CHECKING:
    from honeyguard.sensor.sshd.server import HoneypotConnection

FS_FILE_MAX = 1024 * 1024  # bytes of one upload kept in the fake filesystem (the artifact has it all)


class PendingUpload:
    def __init__(self, owner: HoneypotConnection, path: str, via: str, mode: int = 0o644) -> None:
        self.owner = owner
        self.path = path
        self.via = via
        self.mode = mode
        self.writer = owner.new_artifact()
        self._kept: list[bytes] = []
        self._kept_size = 0
        self.done = False
        owner.pending_uploads.add(self)

    @property
    def size(self) -> int:
        return self.writer.size

    def feed(self, data: bytes) -> None:
        self.writer.feed(data)
        self.owner.touch()
        if self._kept_size < FS_FILE_MAX:
            piece = data[: FS_FILE_MAX - self._kept_size]
            self._kept.append(piece)
            self._kept_size += len(piece)

    def finish(self) -> None:
        """Store the artifact, put what fits into the fake filesystem, record the Upload (once)."""
        if self.done:
            return
        self.done = True
        owner = self.owner
        owner.pending_uploads.discard(self)
        sha256, size, stored = self.writer.finish()
        owner.artifact_done(self.writer)
        with contextlib.suppress(FsError):  # the fake fs is full or the folder is gone: the event still counts
            owner.fs.write(self.path, b"".join(self._kept), mode=self.mode)
        self._kept = []
        if owner.rec is not None:
            owner.rec.bytes_in += size
            owner.rec.record(Upload(filename=self.path, size=size, sha256=sha256, via=self.via,  # type: ignore[arg-type]
                                    stored=stored))
