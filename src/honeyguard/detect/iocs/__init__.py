"""IOC extraction: the URLs, hosts, ports, hashes and wallets a payload reveals, with their role."""

from __future__ import annotations

from honeyguard.detect.fields import Subject, looks_like_payload
from honeyguard.detect.iocs.extract import MAX_IOCS, extract_iocs
from honeyguard.detect.iocs.layers import layers
from honeyguard.model import Ioc


def subject_iocs(subject: Subject, limit: int = MAX_IOCS) -> list[Ioc]:
    """The IOCs in a subject's payload parts, leaving out its own Host."""
    texts = subject.texts + tuple(v for v in subject.header_values if looks_like_payload(v))
    return extract_iocs(texts, host=subject.host, limit=limit)


__all__ = ["MAX_IOCS", "extract_iocs", "layers", "subject_iocs"]
