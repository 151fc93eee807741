"""Key id facts: account decoding against public write-ups and an independent encoder (moto's)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.iam.utils import generate_access_key_id_from_account_id

from honeyguard.creds import judge, keyid
from tests.creds.keys import key_id


def test_known_pairs_from_public_write_ups() -> None:
    assert keyid.account_id("ASIAY34FZKBOKMUTVV7A") == "609629065308"  # Aidan Steele, 2020
    assert keyid.account_id("AKIAQYLPMN5HHHFPZAM2") == "052310077262"  # a canarytokens.org key


def test_legacy_ids_do_not_claim_an_account() -> None:
    assert keyid.account_id("AKIAIOSFODNN7EXAMPLE") is None  # fifth character before Q: old format
    assert keyid.account_id("AKIAJ7Q2ZK4N5M3L6P2B") is None


def test_malformed_ids_have_no_account() -> None:
    for bad in ("AKIA", "AKIAQYLPMN5HHHFPZAM", "AKIAQYLPMN5HHHFPZAM1", "ZZZZY34FZKBOKMUTVV7A"):
        assert keyid.account_id(bad) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=999_999_999_999), st.sampled_from(["AKIA", "ASIA"]))
def test_decodes_what_moto_encodes(number: int, prefix: str) -> None:
    account = f"{number:012d}"
    generated = generate_access_key_id_from_account_id(account_id=account, prefix=prefix, total_length=20)
    assert keyid.account_id(generated) == account


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=999_999_999_999), st.integers(min_value=0, max_value=2**32))
def test_decodes_our_test_encoder(number: int, seed: int) -> None:
    account = f"{number:012d}"
    assert keyid.account_id(key_id(random.Random(seed), account)) == account


def test_kinds_and_prefixes() -> None:
    assert keyid.kind_of("AKIAQYLPMN5HHHFPZAM2") == "access-key"
    assert keyid.kind_of("ASIAQYLPMN5HHHFPZAM2") == "access-key"
    assert keyid.kind_of("AROAQYLPMN5HHHFPZAM2Q") == "resource-id"
    assert set(keyid.PREFIXES) >= {"AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA",
                                   "ANVA", "APKA", "AROA", "ASCA"}
    assert keyid.is_well_formed("AROAQYLPMN5HHHFPZAM2Q")
    assert not keyid.is_well_formed("AKIAQYLPMN5HHHFPZAM2Q")  # access keys are 20 characters


def test_mask_keeps_prefix_account_part_and_tail() -> None:
    assert keyid.mask("AKIAQYLPMN5HHHFPZAM2") == "AKIAQYLP********ZAM2"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_random_secrets_are_plausible_and_random_ids_not_placeholders(seed: int) -> None:
    from tests.creds.keys import account, secret

    rng = random.Random(seed)
    assert judge.is_plausible_secret(secret(rng))
    assert not judge.is_placeholder_key(key_id(rng, account(rng)))


def test_not_secrets() -> None:
    assert not judge.is_plausible_secret("da39a3ee5e6b4b0d3255bfef95601890afd80709")  # SHA-1
    assert not judge.is_plausible_secret("x" * 40)
    assert not judge.is_plausible_secret("ABCDEFGHIJKLMNOPQRSTabcdefghijklmnopqrst")
    assert not judge.is_plausible_secret("src/honeyguard/creds/detector/module.py")
    assert not judge.is_plausible_secret("short")
    assert judge.is_example_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
