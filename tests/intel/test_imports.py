"""CSV and STIX imports: line-numbered errors, the rest imported, source kept, scored with it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from honeyguard.export import render
from honeyguard.intel.book import IndicatorBook
from honeyguard.intel.imports import FeedError, parse_csv, read_import
from tests.export.conftest import NOW, decision

CSV = """value,type,role,confidence
45.142.120.7,ip,scanner,70
Evil-C2.Example.,domain,c2,90
not-an-ip,ip,scanner,50
91.92.240.0/24,cidr,malware-host,101
http://91.92.240.10/x.sh,url,download,80
1.2.3.4,ip,wizard,50
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,sha256,malware,60
only,three,fields
"""


def test_csv_rows_import_and_bad_rows_name_their_line() -> None:
    result = parse_csv(CSV, source="feed.csv")
    assert [(i.type, i.value, i.role, i.confidence) for i in result.indicators] == [
        ("ip", "45.142.120.7", "scanner", 70),
        ("domain", "evil-c2.example", "c2", 90),
        ("url", "http://91.92.240.10/x.sh", "download", 80),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "malware", 60),
    ]
    assert [(e.line, e.message.split(" ")[0]) for e in result.errors] == [
        (4, "'not-an-ip'"), (5, "confidence"), (7, "unknown"), (9, "expected")]


def test_a_wrong_header_is_one_error() -> None:
    result = parse_csv("ip,kind\n1.2.3.4,ip\n", source="x.csv")
    assert result.indicators == [] and result.errors[0].line == 1


def test_stix_bundles_from_our_own_exporter_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(render("stix", [decision("45.142.120.7"), decision("evil-c2.example", type_="domain",
                                    direction="egress", roles=("c2",)),
                                    decision("45.142.121.0/24", type_="cidr", roles=("scanner",))], NOW))
    result = read_import(path)
    assert not result.errors
    got = {(i.type, i.value, i.role, i.confidence) for i in result.indicators}
    assert ("ip", "45.142.120.7", "exploiter", 88) in got
    assert ("domain", "evil-c2.example", "c2", 88) in got
    assert ("domain", "evil-c2.example", "exploiter", 88) not in got
    assert ("cidr", "45.142.121.0/24", "scanner", 88) in got


def test_stix_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"type": "indicator"}')
    with pytest.raises(FeedError, match=r"not a STIX 2\.1 bundle"):
        read_import(path)


def test_imported_indicators_keep_their_source_and_score_with_it() -> None:
    book = IndicatorBook()
    for item in parse_csv(CSV, source="feed.csv").indicators:
        book.observe_feed(type_=item.type, value=item.value, role=item.role, confidence=item.confidence,
                          source="feed.csv", at=datetime(2026, 6, 1, tzinfo=UTC))
    ind = book.get("domain", "evil-c2.example", datetime(2026, 6, 1, tzinfo=UTC))
    assert ind is not None and ind.sources == ["feed:feed.csv"] and ind.confidence == 90
