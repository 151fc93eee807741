"""Ingest's decoder runs work on its own thread, and the defense loop's fold gives way to it:
pausing between slices only while a batch is being decoded."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from honeyguard.intel.book import NATIVE_FOLD_SLICE, IndicatorBook
from honeyguard.model import SshLogin
from honeyguard.server.decoder import PAUSE_SECONDS, BatchDecoder
from tests.intel.test_indicator_book import ev

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_the_fold_pauses_only_while_a_batch_decodes() -> None:
    pauses: list[float] = []
    decoder = BatchDecoder(sleep=pauses.append)
    started, release = threading.Event(), threading.Event()
    asked_during: list[int] = []

    def decode(tag: str) -> str:
        started.set()
        assert release.wait(10)
        return tag.upper()

    async def scenario() -> str:
        decoder.give_way()  # nothing under way: no pause
        task = asyncio.ensure_future(decoder.run(decode, "batch"))
        await asyncio.to_thread(started.wait, 10)
        asked_during.append(decoder.under_way)
        await asyncio.to_thread(decoder.give_way)  # as the defense loop's thread would
        release.set()
        return await task

    try:
        assert asyncio.run(scenario()) == "BATCH"
    finally:
        decoder.shutdown()
    assert asked_during == [1] and pauses == [PAUSE_SECONDS]
    assert decoder.under_way == 0
    decoder.give_way()
    assert pauses == [PAUSE_SECONDS]


def test_a_failed_decode_is_no_longer_under_way() -> None:
    decoder = BatchDecoder(sleep=lambda _: None)

    def refuse() -> None:
        raise ValueError("bad batch")

    async def scenario() -> str:
        try:
            await decoder.run(refuse)
        except ValueError as exc:
            return str(exc)
        return "no error"

    try:
        assert asyncio.run(scenario()) == "bad batch"
    finally:
        decoder.shutdown()
    assert decoder.under_way == 0


def test_the_fold_calls_between_after_each_slice() -> None:
    book = IndicatorBook()
    calls: list[int] = []
    events = [ev(SshLogin(username="u", method="password"), at=T0 + timedelta(seconds=i)) for i in range(600)]
    assert book.observe_events(events, between=lambda: calls.append(len(book._touched))) == 600
    if book._native is not None:
        assert len(calls) == -(-600 // NATIVE_FOLD_SLICE)
    found = book.get("ip", events[0].src_ip, T0 + timedelta(hours=1))
    assert found is not None and found.sightings == 600
