"""The shortcuts that make million-decision exports fast keep the contract: the JSON formats are
laid out exactly as json.dumps(indent=1, sort_keys=True), the order is the stable order, decisions
are read once (a generator will do), and the MISP hash index is sorted MD5 lines."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.export import exporter_registry, render
from honeyguard.export.base import active, in_stable_order, stable_key
from honeyguard.export.json_text import dumps
from honeyguard.export.stix import _TIME_CACHE_SIZE
from honeyguard.model.decision import Decision
from tests.export.conftest import NOW, decision

_scalars = st.none() | st.booleans() | st.integers() | st.text()
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(_json_values, st.integers(min_value=0, max_value=4))
def test_dumps_matches_the_standard_library_at_any_depth(value: object, depth: int) -> None:
    expected = json.dumps(value, indent=1, sort_keys=True).replace("\n", "\n" + " " * depth)
    assert dumps(value, depth) == expected


def _with_id(d: Decision, new_id: str) -> Decision:
    return msgspec.structs.replace(d, id=new_id)


def _mixed(count: int, seed: int) -> list[Decision]:
    """Addresses, networks, names and URLs; repeats of one value in several directions and actions,
    equal expiries, unicode and quotes: what makes order and ties matter."""
    rng = random.Random(seed)
    values = [("ip", f"45.1.{i % 3}.{i % 7}") for i in range(12)] + [("cidr", "45.1.0.0/24"), ("cidr", "45.1.0.0/16")]
    values += [
        ("ip", "2a01:4f8::1"),
        ("cidr", "2a01:4f8::/64"),
        ("domain", "bad.example"),
        ("domain", "Ünï.example"),
        ("url", "http://45.1.0.1/a'b\"c"),
        ("sha256", "ab" * 32),
        ("ip", "not-an-address"),
    ]
    out = []
    for i in range(count):
        type_, value = rng.choice(values)
        made = decision(
            value,
            type_=type_,
            direction=rng.choice(["ingress", "egress", "both"]),
            action=rng.choice(["drop", "drop", "alert"]),
            roles=tuple(rng.sample(["c2", "scanner"], 1)),
            hours=rng.choice([1, 2, 2]),
            exact_only=rng.random() < 0.3,
            sightings=i % 4,
            cves=["CVE-2024-0001"][: i % 2],
        )
        out.append(_with_id(made, f"dec-{i}"))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_stable_order_is_the_full_key_order(seed: int) -> None:
    decisions = _mixed(300, seed)
    random.Random(seed).shuffle(decisions)
    assert in_stable_order(list(decisions)) == sorted(decisions, key=stable_key)
    assert active(decisions, NOW) == sorted((d for d in decisions if d.action == "drop"), key=stable_key)


@pytest.mark.parametrize("name", ["stix", "aws-waf", "aws-network-firewall"])
def test_json_formats_are_laid_out_as_json_dumps(name: str) -> None:
    decisions = _mixed(400, 7)
    decisions += [decision(f"46.0.{i // 256}.{i % 256}", hours=1 + i % 3) for i in range(300)]
    text = render(name, decisions, NOW)
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(n for n, e in exporter_registry().items() if not hasattr(e, "write_files")))
def test_decisions_are_read_once_so_a_generator_will_do(name: str) -> None:
    decisions = _mixed(200, 3)
    shuffled = list(decisions)
    random.Random(1).shuffle(shuffled)
    assert render(name, (d for d in decisions), NOW) == render(name, shuffled, NOW)


def test_equal_networks_keep_the_longest_expiry_then_the_first_in_order() -> None:
    late = _with_id(decision("45.2.0.1", hours=5, roles=("scanner",)), "dec-b")
    tie_first = _with_id(decision("45.2.0.1/32", type_="cidr", hours=5, roles=("c2",)), "dec-a")
    early = _with_id(decision("45.2.0.1", hours=1, roles=("exploiter",)), "dec-c")
    for order in ([late, tie_first, early], [early, tie_first, late], [tie_first, early, late]):
        line = next(li for li in render("ipset", order, NOW).splitlines() if "45.2.0.1/32" in li)
        # ("cidr", ...) sorts before ("ip", ...): of the two 5-hour decisions the cidr one is first
        assert f"timeout {int(timedelta(hours=5).total_seconds())}" in line and "c2" in line


def test_misp_hash_index_is_sorted_md5_of_each_attribute(tmp_path: Path) -> None:
    decisions = _mixed(300, 11)
    exporter = exporter_registry()["misp"]
    exporter.write_files(decisions, NOW, tmp_path / "feed")  # type: ignore[attr-defined]
    lines = (tmp_path / "feed" / "hashes.csv").read_text().splitlines()
    assert lines == sorted(lines)
    expected = []
    for path in (tmp_path / "feed").glob("*.json"):
        if path.name != "manifest.json":
            event = json.loads(path.read_text())["Event"]
            expected += [f"{hashlib.md5(a['value'].encode()).hexdigest()},{event['uuid']}" for a in event["Attribute"]]
    assert lines == sorted(expected) and len(lines) > 100


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["45.3.0.0/16", "45.3.1.0/24", "45.3.1.7", "45.3.2.9", "45.4.0.1"]),
            st.sampled_from(["ingress", "egress", "both"]),
            st.integers(1, 3),
        ),
        max_size=12,
    )
)
def test_interval_sets_drop_covered_networks(items: list[tuple[str, str, int]]) -> None:
    decisions = [
        _with_id(decision(v, type_="cidr" if "/" in v else "ip", direction=dr, hours=h), f"d{i}")
        for i, (v, dr, h) in enumerate(items)
    ]
    text = render("iptables", decisions, NOW)
    ingress = [li.split()[3] for li in text.splitlines() if li.startswith("-A HONEYGUARD-IN")]
    wanted = {v if "/" in v else v + "/32" for v, dr, _ in items if dr in ("ingress", "both")}
    if "45.3.0.0/16" in wanted:
        wanted -= {"45.3.1.0/24", "45.3.1.7/32", "45.3.2.9/32"}
    elif "45.3.1.0/24" in wanted:
        wanted -= {"45.3.1.7/32"}
    assert sorted(ingress) == sorted(wanted)


def test_csv_lines_are_what_the_csv_module_writes() -> None:
    import csv
    import io

    odd = ["a,b", 'say "hi"', "two\nlines", "tab\there", "ünï", "cr\r", " lead", ""]
    decisions = _mixed(100, 5) + [
        _with_id(decision(f"45.9.0.{i}", reason=text, roles=(text or "c2",)), f"odd-{i}") for i, text in enumerate(odd)
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "value",
            "type",
            "action",
            "direction",
            "roles",
            "confidence",
            "expires_at",
            "indicator_id",
            "decision_id",
            "reason",
        ]
    )
    for d in active(decisions, NOW, actions=("drop", "alert")):
        writer.writerow(
            [
                d.value,
                d.type,
                d.action,
                d.direction,
                "/".join(d.roles),
                d.confidence,
                d.expires_at.isoformat(),
                d.indicator_id,
                d.id,
                d.reason,
            ]
        )
    assert render("csv", decisions, NOW) == buffer.getvalue()



def _millis_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_stix_times_are_each_decisions_own_past_the_remembered_ones() -> None:
    """Times are remembered as text (a few thousand at most): every object still gets its own."""
    decisions = []
    for i in range(_TIME_CACHE_SIZE + 500):
        made = decision(f"47.0.{i // 256}.{i % 256}", hours=1 + i % 7)
        created = datetime(2026, 5, 31, 1, 2, 3, (i % 3) * 1000, tzinfo=UTC)
        expires = NOW + timedelta(seconds=(i + 1) * 61, microseconds=i * 7000 % 1_000_000)
        decisions.append(
            msgspec.structs.replace(
                made, created_at=created, expires_at=expires, id=f"t{i}", indicator_id=f"indicator--t{i}"
            )
        )
    bundle = json.loads(render("stix", decisions, NOW))
    by_name = {o["name"]: o for o in bundle["objects"] if o["type"] == "indicator"}
    assert len(by_name) == len(decisions)
    for d in decisions:
        made = by_name[f"ip {d.value}"]
        assert made["created"] == _millis_text(d.created_at)
        assert made["valid_until"] == _millis_text(d.expires_at)
