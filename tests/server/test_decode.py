"""Ingest body decoding: any bytes give events or an IngestError with a status, never a crash."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.model import canonical_uuids, encode_event
from honeyguard.server import decode
from honeyguard.server.decode import MAX_DECODED_BYTES, IngestError, check_ids, decode_events, inflate
from tests.server.helpers import EventMaker

GOOD = encode_event(EventMaker("s1").connect(datetime(2026, 1, 1, tzinfo=UTC)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.just(GOOD), st.binary(max_size=80)), max_size=6))
def test_any_lines_decode_or_fail_cleanly(lines: list[bytes]) -> None:
    body = b"\n".join(lines)
    try:
        events, raws = decode_events(body)
    except IngestError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert raws is None or len(raws) == len(events)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_claimed_gzip_inflate_or_fail_cleanly(body: bytes) -> None:
    try:
        inflate(body, "gzip")
    except IngestError as exc:
        assert exc.status in (400, 413)


def test_a_gzip_bomb_is_refused_not_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "MAX_DECODED_BYTES", 1024 * 1024)
    assert MAX_DECODED_BYTES > 1024 * 1024  # the real cap is larger; the logic is the same
    bomb = gzip.compress(b"\0" * (2 * 1024 * 1024), compresslevel=9)
    try:
        inflate(bomb, "gzip")
    except IngestError as exc:
        assert exc.status == 413
    else:
        raise AssertionError("inflated past the cap")


def test_bad_line_is_named_with_its_number() -> None:
    body = b"\n".join([GOOD, b"", GOOD, b'{"id": 1}'])
    try:
        decode_events(body)
    except IngestError as exc:
        assert exc.message.startswith("line 4:")
    else:
        raise AssertionError("accepted a bad line")


def test_unknown_encoding_is_415() -> None:
    try:
        inflate(b"x", "br")
    except IngestError as exc:
        assert exc.status == 415
    else:
        raise AssertionError("accepted brotli")


def _text_of(raws: decode.Raws) -> list[str]:
    assert raws is not None
    return raws.to_pylist() if isinstance(raws, pa.Array) else [r.decode() for r in raws]


@pytest.mark.parametrize("ending", [b"", b"\n"])
def test_each_event_keeps_its_own_line(ending: bytes) -> None:
    maker = EventMaker("s1")
    lines = [encode_event(maker.connect(datetime(2026, 1, 1, second=i, tzinfo=UTC))) for i in range(5)]
    events, raws = decode_events(b"\n".join(lines) + ending)
    assert [encode_event(e) for e in events] == lines
    assert _text_of(raws) == [line.decode() for line in lines]


@pytest.mark.parametrize(
    "body",
    [
        GOOD + b" " + GOOD + b"\n" + GOOD,  # two events on line 1
        GOOD + b"\n" + GOOD + b" " + GOOD,  # two on the last line
        GOOD + b"\n\n" + GOOD + b" " + GOOD,
    ],
)
def test_two_events_on_one_line_are_refused_by_line(body: bytes) -> None:
    with pytest.raises(IngestError) as caught:
        decode_events(body)
    assert caught.value.status == 400 and caught.value.message.startswith("line ")


def test_crlf_and_blank_lines_still_decode() -> None:
    events, raws = decode_events(GOOD + b"\r\n\n" + GOOD + b"\n")
    assert len(events) == 2 and _text_of(raws)[1] == GOOD.decode()


@pytest.mark.parametrize("slice_bytes", [1, 150, 1_000, 1 << 20])
@pytest.mark.parametrize("ending", [b"", b"\n"])
def test_a_body_decoded_in_slices_is_decoded_whole(
    monkeypatch: pytest.MonkeyPatch, slice_bytes: int, ending: bytes
) -> None:
    """Slices end at newlines wherever the cut falls: every event and its own text, in order."""
    monkeypatch.setattr(decode, "DECODE_SLICE_BYTES", slice_bytes)
    maker = EventMaker("s1")
    events = [maker.http(datetime(2026, 1, 1, second=i % 60, tzinfo=UTC), target="/x" * (i % 9)) for i in range(40)]
    lines = [encode_event(e) for e in events]
    decoded, raws = decode_events(b"\n".join(lines) + ending)
    assert decoded == events
    assert _text_of(raws) == [line.decode() for line in lines]


@pytest.mark.parametrize(
    "spelling",
    [str.upper, lambda v: "{" + v + "}", lambda v: v.replace("-", ""), lambda v: v[:8] + v[9:13] + "-" + v[13:],
     lambda v: "x" * 36, lambda v: v + " "],
)
def test_an_id_not_in_canonical_text_is_refused_by_event(spelling: Callable[[str], str]) -> None:
    maker = EventMaker("s1")
    events = [maker.connect(datetime(2026, 1, 1, second=i, tzinfo=UTC)) for i in range(3)]
    check_ids(events)  # as sensors make them
    events[1].id = spelling(events[1].id)
    with pytest.raises(IngestError) as caught:
        check_ids(events)
    assert caught.value.status == 400 and caught.value.message.startswith("event 2: id ")


@given(st.lists(st.uuids(), min_size=1, max_size=20))
def test_canonical_ids_sort_as_text_as_they_sort_as_uuids(values: list[uuid.UUID]) -> None:
    texts = [str(v) for v in values]
    assert canonical_uuids(texts)
    assert min(texts) == str(min(values, key=lambda v: v.int)) and max(texts) == str(max(values, key=lambda v: v.int))
    assert not canonical_uuids([*texts, texts[0].upper() if texts[0] != texts[0].upper() else "Z" * 36])
