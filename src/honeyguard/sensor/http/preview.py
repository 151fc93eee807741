"""A persona's whole answer to one request without a network: for tests and for persona authors.

Dynamic replies run their command in a fresh emulated shell; download events are kept in
``Preview.downloads`` instead of being recorded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from honeyguard.clock import SeededEntropy
from honeyguard.sensor.http.connection import _path_of
from honeyguard.sensor.http.dynamic import ShellProfile, render
from honeyguard.sensor.http.parser import Request
from honeyguard.sensor.http.responder import Router
from honeyguard.sensor.http.shellhost import configure, random_hex
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.fs import FakeFs

_SLOTS = (b"", b"", b"", b"")  # Date, Keep-Alive, Connection and Content-Length left out


_CLIENTS = itertools.count(1)


def _new_client() -> str:
    """A client address of its own for each Preview: remembered outputs ({shell_last}) are per client."""
    return f"2001:db8::{next(_CLIENTS):x}"


@dataclass
class Preview:
    client: str = field(default_factory=_new_client)
    downloads: list[tuple[str, str, str]] = field(default_factory=list)
    shells: dict[str, Shell] = field(default_factory=dict)

    def download(self, url: str, tool: str, command: str) -> None:
        self.downloads.append((url, tool, command))

    def run(self, profile: ShellProfile, command: str) -> str:
        shell = self.shells.get(profile.key)
        if shell is None:
            facts = profile.facts
            fs = FakeFs.build({**facts.generated_files(profile.hostname), **facts.files}, facts.directories)
            shell = Shell(facts=facts, hostname=profile.hostname, username=profile.user, fs=fs, events=self,
                          now=lambda: datetime(2026, 1, 1, tzinfo=UTC), client_ip=self.client)
            configure(shell, profile)
            self.shells[profile.key] = shell
        return shell.run_line(command).output

    def answer(self, router: Router, method: str, target: str, headers: list[tuple[str, str]] | None = None,
               body: bytes = b"", version: str = "HTTP/1.1") -> str:
        """The head (without the per-request Date/keep-alive lines) and body, as latin-1 text."""
        request = Request(method=method, target=target, version=version, headers=headers or [],
                          header_size=0, keep_alive=True, body=body, body_size=len(body))
        prepared = router.find(method, _path_of(target), target, 0, request)
        if prepared.dynamic is not None:
            head, text = render(prepared.dynamic, request, host="localhost", port=80, slots=_SLOTS,
                                runner=self.run, random_hex=random_hex(SeededEntropy(1)), client=self.client)
            return (head + text).decode("latin-1")
        pieces = prepared.head10 if prepared.head10 is not None and version == "HTTP/1.0" else prepared.head
        head = b"".join(piece for piece in pieces if isinstance(piece, bytes))
        return (head + (prepared.body or (prepared.template or "").encode("latin-1"))).decode("latin-1")
