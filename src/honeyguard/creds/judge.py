"""What is a live credential and what is not: examples, placeholders, canaries, non-secrets.

Every rule here has a reason a reviewer can check:
- AWS documentation examples never authenticate (listed in content/creds/aws-doc-examples.yaml).
- Placeholders are written by people: repeated or sequential characters, few distinct characters,
  words such as YOUR, SAMPLE, DUMMY. Random ids almost never look like that (a run of six
  sequential base32 characters has odds of about 1 in 10^7 in a 16-character body).
- A 40-character secret access key is random base64 (A-Za-z0-9+/). Hex-only strings are git SHAs
  or SHA-1 digests; strings missing upper or lower case, or with few distinct characters or many
  slashes (paths), are not random base64.
- Canary accounts come from content/creds/canary-accounts.yaml.
"""

from __future__ import annotations

import functools
import itertools
import re
from pathlib import Path
from typing import Literal

import msgspec
import yaml

from honeyguard.creds.keyid import ALPHABET

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content" / "creds"

Verdict = Literal["exposed", "canary", "example"]

_PLACEHOLDER_WORDS = ("YOUR", "SAMPLE", "DUMMY", "PLACEHOLDER", "REDACTED", "CHANGEME", "XXXX",
                      "FAKE", "ACCESSKEY", "KEYHERE", "INSERT", "REPLACE")
_SECRET_CHARS = re.compile(r"[A-Za-z0-9+/]{40}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_ORDER = {c: i for i, c in enumerate(ALPHABET)}
_B64_ORDER = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")}


class CanaryAccount(msgspec.Struct, frozen=True):
    id: str
    service: str


class _CanaryFile(msgspec.Struct):
    accounts: list[CanaryAccount]


class _ExampleFile(msgspec.Struct):
    key_ids: list[str]
    secrets: list[str]


def _content(name: str) -> str:
    return (CONTENT_DIR / name).read_text(encoding="utf-8")


@functools.cache
def builtin_canaries() -> dict[str, str]:
    """account id -> canary service, from the shipped list."""
    parsed = msgspec.convert(yaml.safe_load(_content("canary-accounts.yaml")), _CanaryFile)
    return {a.id: a.service for a in parsed.accounts}


def load_canaries(path: Path) -> dict[str, str]:
    from honeyguard.errors import ContentError
    from honeyguard.yamlfile import load_yaml_file

    parsed = load_yaml_file(path, _CanaryFile, error=ContentError)
    for account in parsed.accounts:
        if not (len(account.id) == 12 and account.id.isdigit()):
            raise ContentError(f"account id {account.id!r} is not 12 digits", file=str(path))
    return {a.id: a.service for a in parsed.accounts}


@functools.cache
def _examples() -> _ExampleFile:
    return msgspec.convert(yaml.safe_load(_content("aws-doc-examples.yaml")), _ExampleFile)


def is_example_key(key_id: str) -> bool:
    return "EXAMPLE" in key_id or key_id in _examples().key_ids


def is_example_secret(secret: str) -> bool:
    return "EXAMPLE" in secret.upper() or secret in _examples().secrets


def _longest_run(text: str, order: dict[str, int]) -> int:
    """Longest stretch of repeated or consecutive (ascending or descending) characters."""
    best = run = 1
    step = None
    for a, b in itertools.pairwise(text):
        delta = order.get(b, -99) - order.get(a, -99)
        if delta in (-1, 0, 1) and (step is None or delta == step):
            run, step = run + 1, delta
        elif delta in (-1, 0, 1):
            run, step = 2, delta
        else:
            run, step = 1, None
        best = max(best, run)
    return best


def is_placeholder_key(key_id: str) -> bool:
    body = key_id[4:]
    if any(word in body for word in _PLACEHOLDER_WORDS):
        return True
    return len(set(body)) < 6 or _longest_run(body, _ORDER) >= 6


def is_plausible_secret(candidate: str) -> bool:
    """True for what could be a 40-character AWS secret access key (examples included)."""
    if len(candidate) != 40 or not _SECRET_CHARS.fullmatch(candidate):
        return False
    if _HEX.fullmatch(candidate):
        return False  # a git SHA or SHA-1 digest
    if not (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)):
        return False
    if not any(c.isdigit() or c in "+/" for c in candidate):
        return False
    if candidate.count("/") > 6:
        return False  # a path, not base64
    upper = candidate.upper()
    if any(word in upper for word in _PLACEHOLDER_WORDS):
        return False
    return len(set(candidate)) >= 15 and _longest_run(candidate, _B64_ORDER) < 6


def verdict_for(key_id: str, account: str | None,
                canaries: dict[str, str]) -> Verdict:
    if is_example_key(key_id):
        return "example"
    if account is not None and account in canaries:
        return "canary"
    return "exposed"
