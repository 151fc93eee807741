"""Indicator updates from events: events folded into indicators per second (one core).

Reference, in the same run: decoding the same events from JSON (the floor any consumer pays).
Target: at least 100,000 events per second.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from honeyguard.clock import SeededEntropy
from honeyguard.intel.book import NATIVE_AVAILABLE, IndicatorBook
from honeyguard.model import Event, HttpRequest, Ioc, SshLogin, UuidV7Factory, decode_events, encode_event


def make_events(n: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    ids = UuidV7Factory(SeededEntropy(seed))
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        at = t0 + timedelta(milliseconds=i)
        src = f"198.51.{rng.randrange(256)}.{rng.randrange(256)}"
        roll = rng.random()
        if roll < 0.5:
            body, cves, iocs = HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[]), [], []
        elif roll < 0.8:
            body, cves, iocs = SshLogin(username="root", method="password", password="123456"), [], []
        else:
            host = f"203.0.113.{rng.randrange(64)}"
            body = HttpRequest(method="POST", target="/ctrlt/DeviceUpgrade_1", version="HTTP/1.1", headers=[])
            cves, iocs = ["CVE-2017-17215"], [Ioc(type="url", value=f"http://{host}/bins/mips", role="download")]
        events.append(
            Event(
                id=ids.new(at),
                ts=at,
                sensor=f"s{i % 4}",
                location=f"l{i % 2}",
                session="x",
                kind=body.__struct_config__.tag,
                src_ip=src,
                src_port=1,
                dst_port=80,
                protocol="http",
                body=body,
                cves=cves,
                iocs=iocs,
            )
        )
    return events


ROUNDS = 3


def _cpu(work: Callable[[], object]) -> float:
    """CPU seconds ``work`` took, after a collection (so that no round pays for the one before)."""
    gc.collect()
    start = time.process_time()
    work()
    return time.process_time() - start


def main(argv: list[str]) -> None:
    n = 50_000 if "--quick" in argv else 300_000
    events = make_events(n)
    payload = b"[" + b",".join(encode_event(e) for e in events) + b"]"
    # The harness holds every input event at once (a collector holds one batch): keep them out of
    # the collections, which would otherwise traverse them again and again. The book's own objects
    # (and the decoded events of the reference) are still collected as usual.
    gc.freeze()
    # CPU time, not wall time: on a shared machine it is the steadier measure of one core's rate;
    # the best of a few rounds (each a fresh book over the same events) drops the rounds that
    # other processes slowed down.
    decode_rate = n / min(_cpu(lambda: decode_events(payload)) for _ in range(ROUNDS))
    books: list[IndicatorBook] = []

    def fold(native: bool = True) -> None:
        books[:] = [IndicatorBook(native=native)]  # the previous round's book is freed
        books[0].observe_events(events)

    # the Python fold (the reference the native one is tested against) measured beside it
    python_rate = n / min(_cpu(lambda: fold(native=False)) for _ in range(ROUNDS))
    rate = n / min(_cpu(fold) for _ in range(ROUNDS))
    book = books[0]
    print(
        json.dumps(
            {
                "figure": "intel_fold_events_per_s",
                "value": round(rate),
                "unit": "events/s",
                "reference": {"name": "json_decode_events_per_s", "value": round(decode_rate), "unit": "events/s"},
                "ratio": round(rate / decode_rate, 3),
                "target": ">= 100000 events/s",
                "params": {
                    "events": n,
                    "indicators": len(book),
                    "clock": "process CPU time",
                    "gc": "input events frozen, default thresholds",
                    "rounds": f"best of {ROUNDS}",
                    "fold": "native (_foldnative)" if NATIVE_AVAILABLE else "python (_foldnative not built)",
                    "fold_cpu_us_per_event": round(1e6 / rate, 2),
                    "python_fold_events_per_s": round(python_rate),
                    "python_fold_cpu_us_per_event": round(1e6 / python_rate, 2),
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
