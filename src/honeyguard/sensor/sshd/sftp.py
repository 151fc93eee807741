"""SFTP over the session's fake filesystem: uploads are recorded and stored, nothing real is touched.

asyncssh's SFTPServer maps every request to the local filesystem by default; this subclass
overrides every one of those methods, so no request can reach a real file. Modern ``scp``
speaks SFTP, so this is also where most SCP uploads land. A written file is streamed into an
PendingUpload (hashed whole, stored up to the cap) and recorded as an Upload when closed.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import AsyncIterator

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from honeyguard.sensor.shell.fs import FsError, Node
from honeyguard.sensor.sshd.server import HoneypotConnection
from honeyguard.sensor.sshd.uploads import PendingUpload

_FXF_WRITE, _FXF_APPEND, _FXF_CREAT, _FXF_TRUNC = 0x02, 0x04, 0x08, 0x10
MAX_OPEN_UPLOADS = 8  # files open for writing at once in one SFTP session (each may hold a temp file)
_MAX_REORDER = 4 * 1024 * 1024  # out-of-order write bytes held while waiting for the gap to fill


class _OpenFile:
    def __init__(self, path: str, upload: PendingUpload | None, data: bytes = b"", mode: int = 0o644) -> None:
        self.path = path
        self.upload = upload  # None: opened for reading
        self.data = data  # for reads: the fake file's content
        self.mode = mode
        self.next_offset = 0
        self.pending: dict[int, bytes] = {}
        self.pending_size = 0
        self.closed = False

    def write(self, offset: int, data: bytes) -> None:
        if offset != self.next_offset:
            if offset > self.next_offset and self.pending_size + len(data) <= _MAX_REORDER:
                self.pending[offset] = data
                self.pending_size += len(data)
            return  # rewrites of earlier bytes (and gaps past the reorder cap) are not stored
        self._append(data)
        while self.next_offset in self.pending:
            piece = self.pending.pop(self.next_offset)
            self.pending_size -= len(piece)
            self._append(piece)

    def _append(self, data: bytes) -> None:
        assert self.upload is not None
        self.upload.feed(data)
        self.next_offset += len(data)


class FakeSFTPServer(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[type-arg]
        super().__init__(chan)
        self.owner: HoneypotConnection = chan.get_connection().get_owner()  # type: ignore[assignment]
        self.home = "/root" if self.owner.username in ("", "root") else f"/home/{self.owner.username}"
        self.open_files: list[_OpenFile] = []

    # -- paths -----------------------------------------------------------------------------
    def _path(self, path: bytes) -> str:
        return self.owner.fs.resolve(self.home, path.decode("utf-8", errors="replace") or ".", self.home)

    def map_path(self, path: bytes) -> bytes:
        return self._path(path).encode()

    def reverse_map_path(self, path: bytes) -> bytes:
        return path

    def realpath(self, path: bytes) -> bytes:
        return self._path(path).encode()

    def format_user(self, uid: int | None) -> str:
        return "root"

    def format_group(self, gid: int | None) -> str:
        return "root"

    # -- attributes ------------------------------------------------------------------------
    def _node(self, path: bytes) -> Node:
        node = self.owner.fs.get(self._path(path))
        if node is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        return node

    @staticmethod
    def _attrs(node: Node) -> SFTPAttrs:
        kind = stat.S_IFDIR if node.is_dir else stat.S_IFREG
        return SFTPAttrs(size=node.size, uid=0, gid=0, permissions=kind | node.mode,
                         atime=int(node.mtime), mtime=int(node.mtime))

    def stat(self, path: bytes) -> SFTPAttrs:
        return self._attrs(self._node(path))

    def lstat(self, path: bytes) -> SFTPAttrs:
        return self.stat(path)

    def fstat(self, file_obj: object) -> SFTPAttrs:
        assert isinstance(file_obj, _OpenFile)
        node = self.owner.fs.get(file_obj.path)
        if node is None:
            return SFTPAttrs(size=file_obj.next_offset, uid=0, gid=0, permissions=stat.S_IFREG | file_obj.mode)
        return self._attrs(node)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        node = self._node(path)
        if attrs.permissions is not None:
            node.mode = attrs.permissions & 0o7777

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self.setstat(path, attrs)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        assert isinstance(file_obj, _OpenFile)
        if attrs.permissions is not None:
            file_obj.mode = attrs.permissions & 0o7777

    def statvfs(self, path: bytes) -> asyncssh.SFTPVFSAttrs:
        return asyncssh.SFTPVFSAttrs(bsize=4096, frsize=4096, blocks=10145391, bfree=8603479, bavail=8586615,
                                     files=2580480, ffree=2471325, favail=2471325, fsid=0, flags=0, namemax=255)

    def fstatvfs(self, file_obj: object) -> asyncssh.SFTPVFSAttrs:
        return self.statvfs(b"/")

    # -- files -----------------------------------------------------------------------------
    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        target = self._path(path)
        fs = self.owner.fs
        self.owner.touch()
        if fs.is_dir(target):
            raise asyncssh.SFTPFailure("Is a directory")
        if pflags & (_FXF_WRITE | _FXF_APPEND | _FXF_CREAT | _FXF_TRUNC):
            if not fs.is_dir(posixpath.dirname(target)):
                raise asyncssh.SFTPNoSuchFile("No such file")
            if len(self.open_files) >= MAX_OPEN_UPLOADS:
                raise asyncssh.SFTPFailure("Too many open files")
            mode = (attrs.permissions & 0o7777) if attrs.permissions is not None else 0o644
            handle = _OpenFile(target, PendingUpload(self.owner, target, "sftp", mode), mode=mode)
            self.open_files.append(handle)
            return handle
        try:
            return _OpenFile(target, None, data=fs.read(target))
        except FsError:
            raise asyncssh.SFTPNoSuchFile("No such file") from None

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: SFTPAttrs) -> object:
        raise asyncssh.SFTPOpUnsupported("Unsupported")

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, _OpenFile)
        self.owner.touch()
        return file_obj.data[offset: offset + size]

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        assert isinstance(file_obj, _OpenFile)
        if file_obj.upload is None:
            raise asyncssh.SFTPPermissionDenied("File not open for writing")
        self.owner.touch()
        file_obj.write(offset, data)
        return len(data)

    def close(self, file_obj: object) -> None:
        assert isinstance(file_obj, _OpenFile)
        self._finish(file_obj)

    def _finish(self, handle: _OpenFile) -> None:
        if handle.closed or handle.upload is None:
            return
        handle.closed = True
        if handle in self.open_files:
            self.open_files.remove(handle)
        handle.upload.mode = handle.mode  # as fsetstat left it
        handle.upload.finish()

    def fsync(self, file_obj: object) -> None:
        return None

    def lock(self, file_obj: object, offset: int, length: int, flags: int) -> None:
        return None

    def unlock(self, file_obj: object, offset: int, length: int) -> None:
        return None

    def exit(self) -> None:
        for handle in list(self.open_files):  # a transfer cut off midway is still an upload attempt
            self._finish(handle)
        # OpenSSH's sftp-server exits 0; without an exit status, scp reports failure (status -1)
        if not self.channel.is_closing():
            self.channel.exit(0)

    # -- directories -----------------------------------------------------------------------
    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        target = self._path(path)
        fs = self.owner.fs
        node = self._node(path)
        if not node.is_dir:
            raise asyncssh.SFTPNoSuchFile("Not a directory")
        for name in (".", "..", *fs.listdir(target)):
            child = fs.get(posixpath.normpath(posixpath.join(target, name))) or node
            yield SFTPName(name.encode(), attrs=self._attrs(child))

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        try:
            self.owner.fs.mkdir(self._path(path))
        except FsError as exc:
            raise asyncssh.SFTPFailure(str(exc)) from None

    def rmdir(self, path: bytes) -> None:
        self._remove(path, directory=True)

    def remove(self, path: bytes) -> None:
        self._remove(path, directory=False)

    def _remove(self, path: bytes, *, directory: bool) -> None:
        try:
            self.owner.fs.remove(self._path(path), directory=directory)
        except FsError as exc:
            if "No such" in str(exc):
                raise asyncssh.SFTPNoSuchFile(str(exc)) from None
            raise asyncssh.SFTPFailure(str(exc)) from None

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        try:
            self.owner.fs.rename(self._path(oldpath), self._path(newpath))
        except FsError as exc:
            raise asyncssh.SFTPFailure(str(exc)) from None

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self.rename(oldpath, newpath)

    def readlink(self, path: bytes) -> bytes:
        raise asyncssh.SFTPNoSuchFile("No such file")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Permission denied")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Permission denied")
