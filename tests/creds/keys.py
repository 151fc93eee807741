"""Realistic AWS key material for tests: ids that encode an account the way AWS does, random secrets.

Written from the public description of the format (base32 after the prefix; bit 47 set; account in
bits 46..7), independently of the decoder under test; tests also cross-check with moto's encoder.
"""

from __future__ import annotations

import base64
import random

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def key_id(rng: random.Random, account: str, prefix: str = "AKIA") -> str:
    value = (1 << 47) | (int(account) << 7) | rng.getrandbits(7)
    raw = value.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")
    return prefix + base64.b32encode(raw).decode()


def secret(rng: random.Random) -> str:
    while True:
        value = "".join(rng.choice(B64) for _ in range(40))
        if "+" in value or "/" in value:  # like most real ones; exercises URL encoding
            return value


def session_token(rng: random.Random, length: int = 356) -> str:
    return "IQoJb3JpZ2luX2VjE" + "".join(rng.choice(B64) for _ in range(length)) + "=="


def account(rng: random.Random) -> str:
    return f"{rng.randrange(10**11, 10**12):012d}"
