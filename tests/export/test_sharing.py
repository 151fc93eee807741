"""STIX 2.1 and MISP: stix2-validator accepts the bundle, pymisp loads the feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymisp import MISPEvent
from stix2validator import ValidationOptions, validate_string

from honeyguard.export import ExportError, exporter_registry, render
from honeyguard.model.decision import Decision
from tests.export.conftest import NOW, decision


def test_stix_bundle_is_valid_with_patterns_validity_confidence_and_sightings(sample: list[Decision]) -> None:
    text = render("stix", sample, NOW)
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.is_valid, [str(e) for e in result.errors]
    assert not result.warnings, [str(w) for w in result.warnings]
    objects = json.loads(text)["objects"]
    indicators = {o["pattern"]: o for o in objects if o["type"] == "indicator"}
    assert "[ipv4-addr:value = '45.142.120.7']" in indicators
    assert "[ipv4-addr:value = '45.142.121.0/24']" in indicators
    assert "[domain-name:value = 'evil-c2.example']" in indicators
    assert "[url:value = 'http://91.92.240.10/bins/x86']" in indicators
    assert "[ipv6-addr:value = '2a01:4f8:c010::66']" in indicators
    one = indicators["[ipv4-addr:value = '45.142.120.7']"]
    assert one["confidence"] == 88 and one["valid_until"] == "2026-06-02T12:00:00.000Z"
    sightings = [o for o in objects if o["type"] == "sighting"]
    assert {s["sighting_of_ref"] for s in sightings} == {i["id"] for i in indicators.values()}


def test_stix_escapes_quotes_in_patterns() -> None:
    text = render("stix", [decision("http://x.example/a'b", type_="url", direction="egress")], NOW)
    assert validate_string(text, ValidationOptions(strict=True)).is_valid
    assert "a\\\\'b" in text


def test_misp_feed_loads_in_pymisp_and_lists_every_event(sample: list[Decision], tmp_path: Path) -> None:
    exporter = exporter_registry()["misp"]
    paths = exporter.write_files(sample, NOW, tmp_path / "feed")  # type: ignore[attr-defined]
    manifest = json.loads((tmp_path / "feed" / "manifest.json").read_text())
    events = [p for p in paths if p.suffix == ".json" and p.name != "manifest.json"]
    assert {p.stem for p in events} == set(manifest)
    values = set()
    attributes = 0
    for path in events:
        event = MISPEvent()
        event.load_file(path)
        attributes += len(event.attributes)
        assert event.info.startswith("honeyguard: ")
        values |= {a.value for a in event.attributes}
        assert all(a.to_ids == (a.value != "77.91.68.3") for a in event.attributes)
    assert {"45.142.120.7", "evil-c2.example", "77.91.68.3"} <= values
    assert not values & {"77.91.68.4", "77.91.68.5", "77.91.68.6"}
    hashes = (tmp_path / "feed" / "hashes.csv").read_text().splitlines()
    assert len(hashes) == attributes
    assert all(line.split(",")[1] in manifest for line in hashes)


def test_misp_needs_a_folder(sample: list[Decision]) -> None:
    with pytest.raises(ExportError, match="folder"):
        render("misp", sample, NOW)


def test_misp_feed_is_stable(sample: list[Decision], tmp_path: Path) -> None:
    exporter = exporter_registry()["misp"]
    first = exporter.write_files(sample, NOW, tmp_path / "a")  # type: ignore[attr-defined]
    second = exporter.write_files(list(reversed(sample)), NOW, tmp_path / "b")  # type: ignore[attr-defined]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
