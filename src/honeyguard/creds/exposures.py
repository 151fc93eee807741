"""Exposures, grouped by where they were found, and re-leak detection.

A source is where a key was found, stripped of what changes between leaks: a repository and a
path in it (not the commit), a URL without its query, a host and a path. When a key appears at a
source where an earlier key of the same owner (same AWS account) was already exposed, and that
earlier key is no longer the current one (a different key id; marked rotated or quarantine
released is said too), rotating did not help: the application itself is still leaking its secrets.
Keys whose id does not encode an account (issued before about 2019) have no known owner and are
never called re-leaks, rather than guessing.
"""

from __future__ import annotations

import posixpath
import socket
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from honeyguard.creds.finding import Finding
from honeyguard.store.creds import CredsStore, StoredExposure

SourceKind = Literal["git", "file", "url", "host"]


class ExposureSource(msgspec.Struct, frozen=True, kw_only=True):
    kind: SourceKind
    location: str  # repository, URL origin (scheme://host), or host name
    path: str  # path in the repository, URL path, or file path

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.location}:{self.path}"[:1024]

    def describe(self) -> str:
        if self.kind == "git":
            return f"{self.path} in repository {self.location}"
        if self.kind == "url":
            return f"{self.location}{self.path}"
        return f"{self.path} on {self.location}"


class Exposure(msgspec.Struct, frozen=True, kw_only=True):
    """One key found at one place (no secret: the excerpt is already redacted)."""

    key_id: str
    key_id_masked: str
    account_id: str | None
    source: ExposureSource
    found_at: datetime
    line: int | None = None
    commit: str | None = None
    url: str | None = None  # the exact URL it was fetched from, query included
    excerpt: str = ""
    secret_paired: bool = True


class PriorKey(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key_id_masked: str
    first_seen: datetime
    rotated: bool  # marked rotated, or its quarantine was released


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    exposure: Exposure
    new: bool  # first time this key is seen at this source
    releak: bool
    prior_keys: list[PriorKey] = []  # earlier keys of the same owner at the same source


def source_for(finding: Finding, *, repository: str | None = None, url: str | None = None,
               host: str | None = None) -> ExposureSource:
    if url is not None:
        parts = urlsplit(url)
        return ExposureSource(kind="url", location=f"{parts.scheme}://{parts.netloc}".lower(),
                              path=parts.path or "/")
    if repository is not None:
        return ExposureSource(kind="git", location=repository, path=finding.file)
    path = finding.file if finding.file.startswith(("/", "<")) else posixpath.normpath(finding.file)
    return ExposureSource(kind="file", location=host or socket.gethostname(), path=path)


def exposure_from(finding: Finding, found_at: datetime, *, repository: str | None = None,
                  url: str | None = None, host: str | None = None) -> Exposure:
    return Exposure(key_id=finding.key_id, key_id_masked=finding.key_id_masked, account_id=finding.account_id,
                    source=source_for(finding, repository=repository, url=url, host=host), found_at=found_at,
                    line=finding.line, commit=finding.commit, url=url, excerpt=finding.excerpt,
                    secret_paired=finding.secret_paired)


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Exposure).decode


class ExposureBook:
    """Persists exposures (state store) and says whether each one is a re-leak."""

    def __init__(self, store: CredsStore) -> None:
        self.store = store

    def record(self, exposure: Exposure) -> Assessment:
        source = exposure.source.key
        earlier = [e for e in self.store.exposures_at(source) if e.key_id != exposure.key_id]
        new = self.store.save_exposure(exposure.key_id, source, exposure.account_id, _encode(exposure),
                                       exposure.found_at)
        prior: list[PriorKey] = []
        if exposure.account_id is not None:
            for stored in earlier:
                if stored.account_id != exposure.account_id or stored.first_seen > exposure.found_at:
                    continue
                old = _decode(stored.body)
                prior.append(PriorKey(key_id=stored.key_id, key_id_masked=old.key_id_masked,
                                      first_seen=stored.first_seen, rotated=self._rotated(stored)))
        return Assessment(exposure=exposure, new=new, releak=bool(prior), prior_keys=prior)

    def _rotated(self, stored: StoredExposure) -> bool:
        if stored.rotated_at is not None:
            return True
        record = self.store.quarantine(stored.key_id)
        return record is not None and record.released_at is not None

    def exposures_of(self, key_id: str) -> list[Exposure]:
        return [_decode(e.body) for e in self.store.exposures_of(key_id)]
