"""The detector on hostile or odd input: never crashes, pairs what belongs together."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.creds.detector import ScanOptions, scan_buffer
from honeyguard.creds.finding import Origin
from tests.creds.keys import account, key_id, secret

ORIGIN = Origin(file="mem")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    for hit in scan_buffer(data, ORIGIN, ScanOptions(include_examples=True, include_resource_ids=True)):
        assert hit.finding.line >= 1 and hit.finding.column >= 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=80),
                max_size=30), st.integers(min_value=0, max_value=2**32), st.data())
def test_planted_pair_found_among_noise(noise: list[str], seed: int, data: st.DataObject) -> None:
    rng = random.Random(seed)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    at = data.draw(st.integers(min_value=0, max_value=len(noise)))
    lines = [*noise[:at], f"aws_access_key_id={kid}", f"aws_secret_access_key={sec}", *noise[at:]]
    hits = [h for h in scan_buffer("\n".join(lines).encode(), ORIGIN, ScanOptions())
            if h.finding.key_id == kid]
    assert len(hits) == 1
    assert hits[0].finding.line == at + 1
    assert hits[0].secret == sec


def test_nearest_secret_wins_and_ini_sections_separate_profiles() -> None:
    rng = random.Random(5)
    (k1, s1), (k2, s2) = [(key_id(rng, account(rng)), secret(rng)) for _ in range(2)]
    text = f"[a]\nid={k1}\nsecret={s1}\n[b]\nid={k2}\nsecret={s2}\n"
    pairs = {h.finding.key_id: h.secret for h in scan_buffer(text.encode(), ORIGIN, ScanOptions())}
    assert pairs == {k1: s1, k2: s2}


def test_url_encoded_and_json_escaped_secrets_pair() -> None:
    rng = random.Random(9)
    kid = key_id(rng, account(rng))
    sec = "Ab3+de/Fg7HiJk+LmNo/PqRsTuVwXyZ0q2w4e6r8"
    encoded = sec.replace("+", "%2B").replace("/", "%2F")
    (hit,) = scan_buffer(f"?id={kid}&s={encoded}".encode(), ORIGIN, ScanOptions())
    assert hit.secret == sec
    (hit,) = scan_buffer(f'{{"k":"{kid}","s":"{sec.replace("/", chr(92) + "/")}"}}'.encode(), ORIGIN,
                         ScanOptions())
    assert hit.secret == sec
    assert sec not in hit.finding.excerpt and encoded not in hit.finding.excerpt


def test_huge_single_line_is_bounded() -> None:
    rng = random.Random(3)
    kid = key_id(rng, account(rng))
    data = b"x " * 1_500_000 + kid.encode() + b" " + b"y" * 100
    (hit,) = scan_buffer(data, ORIGIN, ScanOptions())
    assert hit.finding.column == 3_000_001
    assert len(hit.finding.excerpt) < 400
