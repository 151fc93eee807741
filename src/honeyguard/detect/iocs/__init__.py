"""IOC extraction: the URLs, hosts, ports, hashes and wallets a payload reveals, with their role."""

from __future__ import annotations

from collections.abc import Sequence

from honeyguard.detect.fields import HttpSubject, Subject, looks_like_payload
from honeyguard.detect.iocs.collector import MAX_IOCS
from honeyguard.detect.iocs.extract import Job, extract_iocs, extract_many
from honeyguard.detect.iocs.gates import EXTRACTORS, PAYLOAD
from honeyguard.detect.iocs.gates import gates as _open_gates
from honeyguard.detect.iocs.layers import layers
from honeyguard.detect.iocs.native_jobs import what_to_extract
from honeyguard.model import Ioc
from honeyguard.model.event import IocRole


def subject_iocs(subject: Subject, limit: int = MAX_IOCS) -> list[Ioc]:
    """The IOCs in a subject's payload parts, leaving out its own Host."""
    return subjects_iocs([subject], limit)[0]


def subjects_iocs(subjects: Sequence[Subject], limit: int = MAX_IOCS) -> list[list[Ioc]]:
    """``subject_iocs`` of each subject, in order, computed stage by stage over the batch.

    Each stage (which subjects can hold anything, their payload texts, then extraction, itself
    staged) runs over every subject before the next starts, so its code and tables stay in the
    CPU's caches: subject by subject, the same work on a batch of distinct droppers took about a
    third more CPU."""
    todo: list[tuple[int, bool]] = []  # (index, whether a header value may look like a payload)
    for i, subject in enumerate(subjects):
        headers_may = _what_to_extract(subject) if isinstance(subject, HttpSubject) else True
        if headers_may is not None:
            todo.append((i, headers_may))
    if not todo:
        return [[] for _ in subjects]
    jobs = []
    new_job = tuple.__new__  # (Job(...) runs a Python __new__: a frame a request)
    for i, headers_may in todo:
        subject = subjects[i]
        texts = subject.texts  # (the lazy parts in the order subject_iocs always asked)
        if headers_may and (headers := [v for v in subject.header_values if looks_like_payload(v)]):
            texts += tuple(headers)
        if isinstance(subject, HttpSubject):
            jobs.append(new_job(Job, (texts, subject.first_host(), limit, ())))  # (no header fields built)
        else:
            rogue = _rogue_master(subject) if subject.protocol == "redis" else ()
            jobs.append(new_job(Job, (texts, subject.host, limit, rogue)))
    found = extract_many(jobs)
    if len(todo) == len(subjects):
        return found
    out: list[list[Ioc]] = [[] for _ in subjects]
    for (i, _), iocs in zip(todo, found, strict=True):
        out[i] = iocs
    return out


def _rogue_master(subject: Subject) -> list[tuple[bytes, bytes, IocRole]]:  # (a Redis subject)
    """``SLAVEOF host port`` / ``REPLICAOF host port``: the master the attacker wants the victim
    to replicate from serves the module it then loads (the rogue-master attack), a c2."""
    if subject.field("command") not in (b"SLAVEOF", b"REPLICAOF"):
        return []
    words = subject.field("args").split()
    if len(words) < 2 or words[0].lower() == b"no":  # SLAVEOF NO ONE stops replicating
        return []
    return [(words[0], words[1], "c2")]


def _what_to_extract(subject: HttpSubject) -> bool | None:
    """None when no extractor or decoder could fire on any payload part: ordinary requests skip
    building the parts. The request line and body are what the payload texts are made of ('+'
    read as a space, as for queries and forms); a header counts only when it looks like a payload.

    Else whether a header value may look like one. Each value is a piece of the head as sent (a
    folded one joined with a space, which no marker spans), with line ends turned to spaces and
    Log4j lookups resolved (only where '${' is) and, when it holds a '%', decoded: without a
    '%' or a fold in a head that does not look like a payload, no value does, and the values
    are not built (most exploits carry their payload in the target)."""
    line, head, body = subject.payload_parts()
    if what_to_extract is not None:  # the same, in C (a Python call a request, not ten)
        return what_to_extract(line, head, body)
    return py_what_to_extract(line, head, body)


def py_what_to_extract(line: bytes, head: bytes, body: bytes) -> bool | None:
    """``_what_to_extract`` from the payload parts (and what the native one must agree with)."""
    head_payload = _open_gates(head) & PAYLOAD != 0  # looks_like_payload(head), in the gates' scan
    if not head_payload:
        text = line + b"\n" + body if body else line  # no gate's word spans a line end
        if b"+"[0] in text:
            text = text.replace(b"+", b" ")
        if not _open_gates(text) & EXTRACTORS:
            return None
    return head_payload or b"%"[0] in head or head.find(b"\n ") >= 0 or head.find(b"\n\t") >= 0


__all__ = ["MAX_IOCS", "extract_iocs", "extract_many", "layers", "subject_iocs", "subjects_iocs"]
