"""chacha20-poly1305@openssh.com for the SSH sensor on the native ``_sshcipher`` (OpenSSL's libcrypto).

asyncssh's own implementation (asyncssh/crypto/chacha.py) builds five cryptography Cipher objects
and a Poly1305 object per packet: ~19% of the sensor's CPU per connection with OpenSSH clients,
which pick this cipher first. The native object has exactly the interface of asyncssh's
``ChachaCipher`` and does the same work in one C call per packet (docs/ssh.md).

asyncssh chooses the packet cipher class by algorithm name from its module-level registry
(``asyncssh.encryption._enc_params``); it has no per-server or per-connection hook, and its
``register_encryption_alg`` would list the name twice in every KEXINIT. So the SSH listener start
calls ``use_native_chacha()``, which swaps that one registry entry, and ``use_asyncssh_chacha()``
puts asyncssh's back. Nothing happens at import: a process that starts no SSH listener (the bare
asyncssh floor of benchmarks/bench_ssh.py) keeps asyncssh as shipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import cast

from asyncssh import encryption as asyncssh_encryption
from asyncssh.crypto import ChachaCipher
from asyncssh.encryption import ChachaEncryption

CHACHA = b"chacha20-poly1305@openssh.com"
_CIPHER_NAME = "chacha20-poly1305"  # asyncssh's name for it in its cipher parameter table

_native: ModuleType | None
try:
    _native = importlib.import_module("honeyguard.sensor.sshd._sshcipher")
except ImportError:  # built without a compiler or libssl-dev: asyncssh's own cipher stays
    _native = None


def available() -> bool:
    """Whether the native extension was built and imports."""
    return _native is not None


def native_cipher(key: bytes) -> ChachaCipher:
    """The native cipher for a 64-byte key (payload key first, as asyncssh gives it). The C object
    has exactly ChachaCipher's three methods (encrypt_and_sign, decrypt_header, verify_and_decrypt),
    so asyncssh calls it directly: no Python frame per packet."""
    if _native is None:
        raise RuntimeError("the native chacha20-poly1305 extension is not built")
    return cast(ChachaCipher, _native.ChachaPoly(key))


class NativeChachaEncryption(ChachaEncryption):
    """asyncssh's packet layer for chacha20-poly1305, built on the native cipher."""

    @classmethod
    def new(
        cls, cipher_name: str, key: bytes, iv: bytes, mac_alg: bytes = b"", mac_key: bytes = b"", etm: bool = False
    ) -> ChachaEncryption:
        return cls(native_cipher(key))


def use_native_chacha() -> bool:
    """Make this process's asyncssh build chacha20-poly1305@openssh.com with the native cipher.

    Returns whether it is in use (False without the extension, or if asyncssh lacks the cipher).
    Idempotent; undone by use_asyncssh_chacha().
    """
    if _native is None or CHACHA not in asyncssh_encryption._enc_params:
        return False
    asyncssh_encryption._enc_params[CHACHA] = (NativeChachaEncryption, _CIPHER_NAME)
    return True


def use_asyncssh_chacha() -> None:
    """Put asyncssh's own chacha20-poly1305@openssh.com back (if asyncssh has it)."""
    if CHACHA in asyncssh_encryption._enc_params:
        asyncssh_encryption._enc_params[CHACHA] = (ChachaEncryption, _CIPHER_NAME)


def native_chacha_in_use() -> bool:
    """Whether asyncssh in this process currently builds the native cipher."""
    entry = asyncssh_encryption._enc_params.get(CHACHA)
    return entry is not None and entry[0] is NativeChachaEncryption
