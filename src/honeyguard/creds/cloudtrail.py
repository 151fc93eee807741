"""CloudTrail ingest: find every use of a honeytoken key and link it to whoever harvested it.

Input is the S3 delivery format: ``AWSLogs/<account>/CloudTrail/<region>/<y>/<m>/<d>/*.json.gz``,
each file one JSON object ``{"Records": [...]}`` (gzip, or plain JSON). Files are read one at a
time, decompressed through a cap (never trusting what the file claims), and records are decoded
one by one into a typed record that keeps only what we use: a malformed file or record is
reported and skipped, never fatal.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from honeyguard.creds import keyid

MAX_FILE_BYTES = 256 * 1024 * 1024  # decompressed; CloudTrail files are far smaller
_READ = 1 << 20


class CtIdentity(msgspec.Struct, kw_only=True):
    """The part of userIdentity we use (field names as CloudTrail writes them)."""

    type: str | None = None
    accessKeyId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    userName: str | None = None


class CtRecord(msgspec.Struct, kw_only=True):
    eventTime: datetime
    eventSource: str = ""
    eventName: str = ""
    awsRegion: str = ""
    sourceIPAddress: str = ""
    userAgent: str = ""
    errorCode: str | None = None
    eventID: str | None = None
    userIdentity: CtIdentity = msgspec.field(default_factory=CtIdentity)

    @property
    def api_call(self) -> str:
        service = self.eventSource.split(".", 1)[0] or "unknown"
        return f"{service}:{self.eventName}"


class _Envelope(msgspec.Struct):
    Records: list[msgspec.Raw]


_envelope = msgspec.json.Decoder(_Envelope)
_record = msgspec.json.Decoder(CtRecord)


class CtProblem(msgspec.Struct, frozen=True):
    file: str
    message: str


@dataclass
class IngestStats:
    files: int = 0
    records: int = 0
    matched: int = 0
    problems: list[CtProblem] = field(default_factory=list)

    def problem(self, file: str, message: str) -> None:
        if len(self.problems) < 1000:  # bounded: a folder of junk cannot grow memory without limit
            self.problems.append(CtProblem(file, message))


def cloudtrail_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, folders walked in sorted order for ``*.json.gz`` and ``*.json``."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.is_symlink() and child.name.endswith((".json.gz", ".json")):
                    yield child
        else:
            yield path


def _read_capped(path: Path, cap: int) -> bytes:
    with path.open("rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
        chunks: list[bytes] = []
        size = 0
        while chunk := stream.read(_READ):
            size += len(chunk)
            if size > cap:
                raise ValueError(f"larger than {cap // (1024 * 1024)} MiB decompressed")
            chunks.append(chunk)
        return b"".join(chunks)


def read_records(paths: Iterable[str | Path], stats: IngestStats,
                 *, max_file_bytes: int = MAX_FILE_BYTES) -> Iterator[CtRecord]:
    for path in cloudtrail_files(paths):
        stats.files += 1
        name = str(path)
        try:
            envelope = _envelope.decode(_read_capped(path, max_file_bytes))
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
            stats.problem(name, f"cannot read: {exc.__class__.__name__}: {str(exc)[:200]}")
            continue
        except msgspec.DecodeError as exc:
            stats.problem(name, f"not a CloudTrail log file: {str(exc)[:200]}")
            continue
        bad = 0
        for raw in envelope.Records:
            try:
                record = _record.decode(raw)
            except msgspec.DecodeError:
                bad += 1
                continue
            stats.records += 1
            yield record
        if bad:
            stats.problem(name, f"{bad} malformed record(s) skipped")


class KeyUse(msgspec.Struct, kw_only=True):
    """Every call made with one key, folded."""

    key_id: str
    first: datetime
    last: datetime
    calls: int = 0
    ips: dict[str, int] = {}  # sourceIPAddress -> calls
    user_agents: dict[str, int] = {}
    event_names: dict[str, int] = {}
    errors: dict[str, int] = {}
    regions: dict[str, int] = {}

    def add(self, record: CtRecord) -> None:
        self.calls += 1
        self.first = min(self.first, record.eventTime)
        self.last = max(self.last, record.eventTime)
        _bump(self.ips, record.sourceIPAddress or "unknown")
        _bump(self.user_agents, (record.userAgent or "unknown")[:256])
        _bump(self.event_names, record.api_call[:128])
        if record.errorCode:
            _bump(self.errors, record.errorCode[:64])
        if record.awsRegion:
            _bump(self.regions, record.awsRegion[:32])


_MAX_DISTINCT = 200  # per key and field: an attacker rotating user agents cannot grow memory


def _bump(counts: dict[str, int], value: str) -> None:
    if value in counts or len(counts) < _MAX_DISTINCT:
        counts[value] = counts.get(value, 0) + 1


class HoneytokenMatcher:
    """Is this key one of ours? Known honeytoken ids, or any key of a decoy account."""

    def __init__(self, key_ids: Iterable[str] = (), decoy_accounts: Iterable[str] = ()) -> None:
        self.key_ids = set(key_ids)
        self.decoy_accounts = set(decoy_accounts)

    def __call__(self, key_id: str) -> bool:
        if key_id in self.key_ids:
            return True
        return bool(self.decoy_accounts) and keyid.account_id(key_id) in self.decoy_accounts


MAX_CUSTOMER_KEYS = 10_000  # customer keys seen calling from attacker addresses, kept per ingest


class Uses(msgspec.Struct, kw_only=True):
    """One pass over the records: our honeytoken keys' calls, and customer keys' calls from
    addresses we hold as attackers (the quarantine candidates; only those calls are kept)."""

    honeytoken: dict[str, KeyUse] = {}
    from_attackers: dict[str, KeyUse] = {}


def _fold(uses: dict[str, KeyUse], key: str, record: CtRecord) -> None:
    use = uses.get(key)
    if use is None:
        use = uses[key] = KeyUse(key_id=key, first=record.eventTime, last=record.eventTime,
                                 ips={}, user_agents={}, event_names={}, errors={}, regions={})
    use.add(record)


def split_uses(records: Iterable[CtRecord], is_honeytoken: HoneytokenMatcher, stats: IngestStats,
               attacker_ips: Container[str] = frozenset()) -> Uses:
    uses = Uses(honeytoken={}, from_attackers={})
    for record in records:
        key = record.userIdentity.accessKeyId
        if not key:
            continue
        if is_honeytoken(key):
            stats.matched += 1
            _fold(uses.honeytoken, key, record)
        elif record.sourceIPAddress in attacker_ips and (
                key in uses.from_attackers or len(uses.from_attackers) < MAX_CUSTOMER_KEYS):
            _fold(uses.from_attackers, key, record)
    return uses


def find_uses(records: Iterable[CtRecord], is_honeytoken: HoneytokenMatcher,
              stats: IngestStats) -> dict[str, KeyUse]:
    return split_uses(records, is_honeytoken, stats).honeytoken
