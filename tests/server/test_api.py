"""The collector API over real HTTP, against `honeyguard server run` on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from honeyguard.model import encode_event
from tests.server.helpers import CollectorProcess, EventMaker, get_events, ndjson, post_events

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    proc = CollectorProcess(tmp_path_factory.mktemp("collector"))
    proc.tokens = {name: proc.add_sensor(name) for name in ("alpha", "beta")}  # type: ignore[attr-defined]
    proc.start()
    yield proc
    assert proc.stop() == 0


def _count(collector: CollectorProcess, **filters: object) -> int:
    return len(get_events(collector.url, limit=10000, **filters)["events"])


def test_ingest_then_same_batch_again_is_stored_once(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=11)
    events = [maker.connect(T0 + timedelta(seconds=i), src_ip="192.0.2.11") for i in range(50)]
    first = post_events(collector.url, collector.tokens["alpha"], ndjson(events))  # type: ignore[attr-defined]
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 50, "duplicates": 0}
    again = post_events(collector.url, collector.tokens["alpha"], ndjson(events))  # type: ignore[attr-defined]
    assert again.json() == {"accepted": 0, "duplicates": 50}
    stored = get_events(collector.url, src_ip="192.0.2.11", limit=1000)["events"]
    assert sorted(e["id"] for e in stored) == sorted(e.id for e in events)


def test_plain_ndjson_and_json_array_are_accepted(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=12)
    plain = [maker.connect(T0, src_ip="192.0.2.12") for _ in range(3)]
    response = post_events(collector.url, collector.tokens["alpha"], ndjson(plain) + b"\n\n",  # type: ignore[attr-defined]
                           gzipped=False)
    assert response.json() == {"accepted": 3, "duplicates": 0}
    array = [maker.connect(T0, src_ip="192.0.2.12") for _ in range(2)]
    body = b"[" + b",".join(encode_event(e) for e in array) + b"]"
    response = post_events(collector.url, collector.tokens["alpha"], body)  # type: ignore[attr-defined]
    assert response.json() == {"accepted": 2, "duplicates": 0}
    assert _count(collector, src_ip="192.0.2.12") == 5


@pytest.mark.parametrize("authorization", [None, "Bearer hgs_wrong", "Basic YWxwaGE6eA==", "Bearer"])
def test_missing_or_wrong_token_is_401_and_nothing_stored(collector: CollectorProcess,
                                                          authorization: str | None) -> None:
    maker = EventMaker("alpha", seed=13)
    events = [maker.connect(T0, src_ip="192.0.2.13")]
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(collector.url + "/api/v1/events", content=ndjson(events), headers=headers,
                          trust_env=False)
    assert response.status_code == 401
    assert _count(collector, src_ip="192.0.2.13") == 0


def test_event_of_another_sensor_is_403_and_nothing_stored(collector: CollectorProcess) -> None:
    good = EventMaker("beta", seed=14).connect(T0, src_ip="192.0.2.14")
    forged = EventMaker("alpha", seed=15).connect(T0, src_ip="192.0.2.14")
    response = post_events(collector.url, collector.tokens["beta"], ndjson([good, forged]))  # type: ignore[attr-defined]
    assert response.status_code == 403
    assert "alpha" in response.text
    assert _count(collector, src_ip="192.0.2.14") == 0


def test_malformed_line_is_400_naming_it_and_nothing_stored(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=16)
    lines = [encode_event(maker.connect(T0, src_ip="192.0.2.16")) for _ in range(4)]
    lines[2] = b'{"id": "x", "kind": "connect"}'  # line 3: fields missing
    response = post_events(collector.url, collector.tokens["alpha"], b"\n".join(lines))  # type: ignore[attr-defined]
    assert response.status_code == 400
    assert "line 3" in response.json()["detail"]
    assert _count(collector, src_ip="192.0.2.16") == 0


def test_an_id_in_upper_case_is_400_naming_the_event_and_nothing_stored(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=91)
    events = [maker.connect(T0, src_ip="192.0.2.91") for _ in range(3)]
    events[1].id = events[1].id.upper()
    response = post_events(collector.url, collector.tokens["alpha"], ndjson(events))  # type: ignore[attr-defined]
    assert response.status_code == 400
    assert "event 2: id" in response.json()["detail"]
    assert _count(collector, src_ip="192.0.2.91") == 0


def test_not_gzip_when_it_says_gzip_is_400(collector: CollectorProcess) -> None:
    response = httpx.post(collector.url + "/api/v1/events", content=b"not gzip at all", trust_env=False,
                          headers={"Authorization": f"Bearer {collector.tokens['alpha']}",  # type: ignore[attr-defined]
                                   "Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_filters_and_cursor_paging(collector: CollectorProcess) -> None:
    alpha, beta = EventMaker("alpha", seed=17), EventMaker("beta", seed=18)
    day = datetime(2026, 4, 1, tzinfo=UTC)
    a_events = [alpha.http(day + timedelta(minutes=i), target=f"/a{i}", src_ip="192.0.2.17") for i in range(25)]
    b_events = [beta.connect(day + timedelta(minutes=i), src_ip="192.0.2.17") for i in range(10)]
    for name, batch in (("alpha", a_events), ("beta", b_events)):
        assert post_events(collector.url, collector.tokens[name], ndjson(batch)).status_code == 200  # type: ignore[attr-defined]

    assert _count(collector, src_ip="192.0.2.17", sensor="beta") == 10
    assert _count(collector, src_ip="192.0.2.17", kind="http.request") == 25
    window = get_events(collector.url, src_ip="192.0.2.17", sensor="alpha",
                        since=(day + timedelta(minutes=5)).isoformat(),
                        until=(day + timedelta(minutes=8)).isoformat(), limit=100)["events"]
    assert [e["body"]["target"] for e in window] == ["/a5", "/a6", "/a7"]

    seen, after, pages = [], None, 0
    while True:
        page = get_events(collector.url, src_ip="192.0.2.17", sensor="alpha", after=after, limit=10)
        seen += [e["id"] for e in page["events"]]
        pages += 1
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == sorted(e.id for e in a_events)
    assert pages == 3
    first = msgspec.json.decode(msgspec.json.encode(get_events(collector.url, src_ip="192.0.2.17", limit=1)
                                                    ["events"][0]))
    assert first["iocs"] in ([], [{"type": "url", "value": "http://evil.example/x", "role": "download"}])


def test_bad_query_parameter_is_400(collector: CollectorProcess) -> None:
    response = httpx.get(collector.url + "/api/v1/events", params={"limit": "0"}, trust_env=False)
    assert response.status_code == 400
    response = httpx.get(collector.url + "/api/v1/events", params={"since": "yesterday"}, trust_env=False)
    assert response.status_code == 400
    response = httpx.get(collector.url + "/api/v1/events", params={"after": "'; DROP TABLE events"},
                         trust_env=False)
    assert response.status_code == 400


def test_health_and_openapi(collector: CollectorProcess) -> None:
    health = httpx.get(collector.url + "/api/v1/health", trust_env=False)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    schema = httpx.get(collector.url + "/schema/openapi.json", trust_env=False)
    assert schema.status_code == 200
    assert "/api/v1/events" in schema.json()["paths"]


def test_state_store_keeps_only_token_hashes(collector: CollectorProcess) -> None:
    raw = Path(collector.data_dir / "state.sqlite").read_bytes()
    for token in collector.tokens.values():  # type: ignore[attr-defined]
        assert token.encode() not in raw


def test_reads_while_batches_are_written(collector: CollectorProcess) -> None:
    maker = EventMaker("alpha", seed=19)
    day = datetime(2026, 4, 2, tzinfo=UTC)
    batches = [[maker.connect(day + timedelta(seconds=b * 1000 + i), src_ip="192.0.2.19") for i in range(500)]
               for b in range(6)]

    def post(batch: list) -> int:  # type: ignore[type-arg]
        return post_events(collector.url, collector.tokens["alpha"], ndjson(batch)).status_code  # type: ignore[attr-defined]

    def read(_: int) -> int:
        return len(get_events(collector.url, src_ip="192.0.2.19", limit=10000)["events"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        posted = pool.map(post, batches)
        counts = list(pool.map(read, range(12)))
        assert list(posted) == [200] * 6
    assert all(0 <= c <= 3000 for c in counts)
    assert _count(collector, src_ip="192.0.2.19") == 3000
