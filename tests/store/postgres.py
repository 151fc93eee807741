"""A throwaway PostgreSQL server from Debian's packages, for the state store tests.

Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin, off PATH; a missing server is
a failure (scripts/system-deps.sh installs it), never a skip. PostgreSQL refuses to run as root,
so under root the cluster belongs to the ``postgres`` account Debian's package creates.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import free_port

_USER = "honeyguard"


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL server binary (the newest installed version); missing fails the test."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path is None:
        pytest.fail(f"PostgreSQL's {name} is not installed; run `make test` "
                    "(scripts/system-deps.sh installs the postgresql package)")
    return on_path


class PostgresServer:
    """initdb into a temporary folder, start on a free loopback port, stop and delete on close."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="honeyguard-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")  # created by Debian's postgresql package
            except KeyError:
                pytest.fail("no postgres account to run PostgreSQL as (it refuses root); "
                            "run `make test` (scripts/system-deps.sh installs the postgresql package)")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]

    def start(self) -> PostgresServer:
        self._run(pg_tool("initdb"), "-D", str(self.data), "-U", _USER, "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=100")
        self._run(pg_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", options, "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        name = f"t{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={_USER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own counter, never outside input
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(pg_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _run(self, *argv: str, check: bool = True) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120, cwd=self.root)
        if check and done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr[-2000:]}\n"
                               f"{self.log()}")
