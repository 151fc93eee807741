"""A small in-memory filesystem, one per shell session, bounded in files and bytes.

It starts from the persona's files and the generated /proc and /etc files, and everything the
attacker writes (echo > file, wget, scp, sftp) stays in it for the session, so that ``ls``,
``cat`` and ``chmod`` agree with what was written. Nothing here touches the real filesystem.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

STANDARD_DIRS = (
    "/", "/bin", "/boot", "/dev", "/dev/shm", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/local", "/usr/local/bin", "/usr/sbin", "/usr/share", "/var", "/var/log", "/var/tmp",
    "/var/run", "/var/www", "/var/www/html",
)


class FsError(Exception):
    """A failure worded as coreutils words it ('No such file or directory', ...)."""


@dataclass
class Node:
    is_dir: bool
    data: bytes = b""
    mode: int = 0o644
    mtime: float = 0.0
    owner: str = "root"
    children: set[str] = field(default_factory=set)
    program: str | None = None  # the emulated command this file runs as (an installed binary); never shown

    @property
    def size(self) -> int:
        return 4096 if self.is_dir else len(self.data)


class FakeFs:
    def __init__(self, *, max_bytes: int = 4 * 1024 * 1024, max_nodes: int = 4096, now: float = 0.0) -> None:
        self.max_bytes = max_bytes
        self.max_nodes = max_nodes
        self.now = now
        self.used_bytes = 0
        self._nodes: dict[str, Node] = {"/": Node(is_dir=True, mode=0o755, mtime=now)}

    @classmethod
    def build(cls, files: dict[str, str], directories: Iterable[str] = (), *, max_bytes: int = 4 * 1024 * 1024,
              now: float = 0.0) -> FakeFs:
        fs = cls(max_bytes=max_bytes + sum(len(v) for v in files.values()), now=now)
        for path in (*STANDARD_DIRS, *directories):
            fs.mkdir(path, parents=True, exist_ok=True)
        for path, text in files.items():
            fs.mkdir(posixpath.dirname(path), parents=True, exist_ok=True)
            fs.write(path, text.encode())
        fs.chmod("/tmp", 0o1777)
        return fs

    @staticmethod
    def resolve(cwd: str, path: str, home: str = "/root") -> str:
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        joined = posixpath.normpath(posixpath.join(cwd, path))
        return "/" + joined.lstrip("/")  # normpath keeps a leading '//'

    def get(self, path: str) -> Node | None:
        return self._nodes.get(path)

    def is_dir(self, path: str) -> bool:
        node = self._nodes.get(path)
        return node is not None and node.is_dir

    def stat(self, path: str) -> Node:
        node = self._nodes.get(path)
        if node is None:
            raise FsError("No such file or directory")
        return node

    def read(self, path: str) -> bytes:
        node = self.stat(path)
        if node.is_dir:
            raise FsError("Is a directory")
        return node.data

    def listdir(self, path: str) -> list[str]:
        node = self.stat(path)
        if not node.is_dir:
            return [posixpath.basename(path)]
        return sorted(node.children)

    def write(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644,
              program: str | None = None) -> None:
        parent = self._parent_dir(path)
        node = self._nodes.get(path)
        if node is not None and node.is_dir:
            raise FsError("Is a directory")
        old = len(node.data) if node is not None else 0
        new_data = (node.data + data) if (append and node is not None) else data
        if self.used_bytes - old + len(new_data) > self.max_bytes:
            raise FsError("No space left on device")
        if node is None:
            self._check_room()
            node = Node(is_dir=False, mode=mode, mtime=self.now)
            self._nodes[path] = node
            parent.children.add(posixpath.basename(path))
        self.used_bytes += len(new_data) - old
        node.data = new_data
        node.mtime = self.now
        node.program = program  # new content is no longer the installed program

    def touch(self, path: str) -> None:
        node = self._nodes.get(path)
        if node is None:
            self.write(path, b"")
        else:
            node.mtime = self.now

    def mkdir(self, path: str, *, parents: bool = False, exist_ok: bool = False) -> None:
        if path in self._nodes:
            if exist_ok or parents:
                if not self._nodes[path].is_dir:
                    raise FsError("File exists")
                return
            raise FsError("File exists")
        parent_path = posixpath.dirname(path)
        if parents and parent_path not in self._nodes:
            self.mkdir(parent_path, parents=True)
        parent = self._parent_dir(path)
        self._check_room()
        self._nodes[path] = Node(is_dir=True, mode=0o755, mtime=self.now)
        parent.children.add(posixpath.basename(path))

    def remove(self, path: str, *, recursive: bool = False, directory: bool = False) -> None:
        node = self.stat(path)
        if path == "/":
            raise FsError("Device or resource busy")
        if node.is_dir and not (recursive or directory):
            raise FsError("Is a directory")
        if node.is_dir and node.children and not recursive:
            raise FsError("Directory not empty")
        for child in list(node.children):
            self.remove(posixpath.join(path, child), recursive=True)
        self.used_bytes -= len(node.data)
        del self._nodes[path]
        parent = self._nodes.get(posixpath.dirname(path))
        if parent is not None:
            parent.children.discard(posixpath.basename(path))

    def rename(self, old: str, new: str) -> None:
        node = self.stat(old)
        if node.is_dir:
            raise FsError("Operation not permitted")  # keeps the tree simple: files only
        if self.is_dir(new):
            new = posixpath.join(new, posixpath.basename(old))
        data, mode, program = node.data, node.mode, node.program
        self.remove(old)
        self.write(new, data, mode=mode, program=program)

    def chmod(self, path: str, mode: int) -> None:
        self.stat(path).mode = mode

    def _parent_dir(self, path: str) -> Node:
        parent = self._nodes.get(posixpath.dirname(path))
        if parent is None:
            raise FsError("No such file or directory")
        if not parent.is_dir:
            raise FsError("Not a directory")
        return parent

    def _check_room(self) -> None:
        if len(self._nodes) >= self.max_nodes:
            raise FsError("No space left on device")
