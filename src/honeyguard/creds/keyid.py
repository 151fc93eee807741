"""Facts about AWS key ids: the documented prefixes, the alphabet, and the account id they encode.

Prefixes come from the IAM user guide, "IAM identifiers / unique ID prefixes". Only four of them
name something that signs requests (a credential); the others name resources (users, roles,
policies...), which are identifiers, not secrets.

Account decoding follows public research (Aidan Steele 2020, Tal Be'ery 2023): the 16 characters
after the prefix are RFC 4648 base32 (10 bytes); the first 6 bytes, read big-endian, hold the
account number in bits 46..7 (mask 0x7fffffffff80, shift 7). Bit 47 is set in every key id issued
since about 2019 (fifth character Q-Z or 2-7); older ids (fifth character A-P, in practice
AKIAI.../AKIAJ...) do not carry the account, so we report none for them rather than a wrong one.
"""

from __future__ import annotations

import base64
from typing import Literal

KeyKind = Literal["access-key", "resource-id"]

#: prefix -> what it identifies (IAM user guide, unique ID prefixes).
PREFIXES: dict[str, str] = {
    "AKIA": "access key",
    "ASIA": "temporary (STS) access key",
    "ABIA": "STS service bearer token",
    "ACCA": "context-specific credential",
    "AGPA": "group",
    "AIDA": "IAM user",
    "AIPA": "EC2 instance profile",
    "ANPA": "managed policy",
    "ANVA": "version in a managed policy",
    "APKA": "public key",
    "AROA": "role",
    "ASCA": "certificate",
}

#: Prefixes of ids that authenticate requests; the rest are resource ids.
CREDENTIAL_PREFIXES = frozenset({"AKIA", "ASIA", "ABIA", "ACCA"})

#: RFC 4648 base32: the only characters after the prefix (no 0, 1, 8, 9, no lower case).
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

_ACCOUNT_MASK = 0x7FFFFFFFFF80
_NEW_FORMAT_FIRST = frozenset("QRSTUVWXYZ234567")  # fifth character with bit 47 set


def kind_of(key_id: str) -> KeyKind:
    return "access-key" if key_id[:4] in CREDENTIAL_PREFIXES else "resource-id"


def is_well_formed(key_id: str) -> bool:
    """Documented prefix, then 16 (access keys) or 16-17 (resource ids) base32 characters."""
    prefix, body = key_id[:4], key_id[4:]
    if prefix not in PREFIXES:
        return False
    lengths = (16,) if prefix in CREDENTIAL_PREFIXES else (16, 17)
    return len(body) in lengths and all(c in ALPHABET for c in body)


def account_id(key_id: str) -> str | None:
    """The 12-digit account that owns ``key_id``, or None when the id does not encode one."""
    if not is_well_formed(key_id) or key_id[4] not in _NEW_FORMAT_FIRST:
        return None
    raw = base64.b32decode(key_id[4:20])
    number = (int.from_bytes(raw[:6], "big") & _ACCOUNT_MASK) >> 7
    if number > 999_999_999_999:
        return None
    return f"{number:012d}"


def mask(key_id: str) -> str:
    """Prefix and the account-bearing characters stay visible, the unique part is hidden but its last
    four characters (enough to tell keys of one account apart, as the IAM console does)."""
    if len(key_id) < 16:
        return key_id[:4] + "*" * max(0, len(key_id) - 4)
    return key_id[:8] + "*" * (len(key_id) - 12) + key_id[-4:]
