"""IOC extraction: the URLs, hosts, ports, hashes and wallets a payload reveals, with their role."""

from __future__ import annotations

from collections.abc import Sequence

from honeyguard.detect.fields import HttpSubject, Subject, looks_like_payload
from honeyguard.detect.iocs.collector import MAX_IOCS
from honeyguard.detect.iocs.extract import Job, extract_iocs, extract_many
from honeyguard.detect.iocs.gates import gates as _open_gates
from honeyguard.detect.iocs.layers import layers
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
    out: list[list[Ioc]] = [[] for _ in subjects]
    todo = [i for i, s in enumerate(subjects) if not (isinstance(s, HttpSubject) and _nothing_to_extract(s))]
    if not todo:
        return out
    texts = [subjects[i].texts for i in todo]  # (the lazy parts in the order subject_iocs always asked)
    headers = [tuple(v for v in subjects[i].header_values if looks_like_payload(v)) for i in todo]
    jobs = [
        Job(text + header, subjects[i].host, limit, _rogue_master(subjects[i]))
        for i, text, header in zip(todo, texts, headers, strict=True)
    ]
    for i, iocs in zip(todo, extract_many(jobs), strict=True):
        out[i] = iocs
    return out


def _rogue_master(subject: Subject) -> list[tuple[bytes, bytes, IocRole]]:
    """``SLAVEOF host port`` / ``REPLICAOF host port``: the master the attacker wants the victim
    to replicate from serves the module it then loads (the rogue-master attack), a c2."""
    if subject.protocol != "redis" or subject.field("command") not in (b"SLAVEOF", b"REPLICAOF"):
        return []
    words = subject.field("args").split()
    if len(words) < 2 or words[0].lower() == b"no":  # SLAVEOF NO ONE stops replicating
        return []
    return [(words[0], words[1], "c2")]


def _nothing_to_extract(subject: HttpSubject) -> bool:
    """True when no extractor or decoder could fire on any payload part: ordinary requests skip
    building the parts. The request line and body are what the payload texts are made of ('+' read
    as a space, as for queries and forms); a header counts only when it looks like a payload."""
    line, head, body = subject.payload_parts()
    text = line + b"\n" + body if body else line  # no gate's word spans a line end
    if b"+"[0] in text:
        text = text.replace(b"+", b" ")
    return not _open_gates(text) and not looks_like_payload(head)


__all__ = ["MAX_IOCS", "extract_iocs", "extract_many", "layers", "subject_iocs", "subjects_iocs"]
