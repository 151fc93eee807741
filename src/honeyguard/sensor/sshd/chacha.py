"""chacha20-poly1305@openssh.com for the SSH sensor on the native ``_sshcipher`` (OpenSSL's libcrypto).

asyncssh's own implementation (asyncssh/crypto/chacha.py) builds five cryptography Cipher objects
and a Poly1305 object per packet: ~19% of the sensor's CPU per connection with OpenSSH clients,
which pick this cipher first. ``NativeChachaCipher`` has exactly the interface of asyncssh's
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


class NativeChachaCipher:
    """asyncssh's ChachaCipher interface; the 64-byte key as asyncssh gives it (payload key first)."""

    def __init__(self, key: bytes) -> None:
        if _native is None:
            raise RuntimeError("the native chacha20-poly1305 extension is not built")
        self._impl = _native.ChachaPoly(key)

    def encrypt_and_sign(self, header: bytes, data: bytes, nonce: bytes) -> tuple[bytes, bytes]:
        """Encrypted header + payload, and the Poly1305 tag over both."""
        return cast(tuple[bytes, bytes], self._impl.encrypt_and_sign(header, data, nonce))

    def decrypt_header(self, header: bytes, nonce: bytes) -> bytes:
        """The decrypted packet length field."""
        return cast(bytes, self._impl.decrypt_header(header, nonce))

    def verify_and_decrypt(self, header: bytes, data: bytes, nonce: bytes, tag: bytes) -> bytes | None:
        """The decrypted payload, or None if the tag does not verify."""
        return cast(bytes | None, self._impl.verify_and_decrypt(header, data, nonce, tag))


class NativeChachaEncryption(ChachaEncryption):
    """asyncssh's packet layer for chacha20-poly1305, built on NativeChachaCipher."""

    @classmethod
    def new(
        cls, cipher_name: str, key: bytes, iv: bytes, mac_alg: bytes = b"", mac_key: bytes = b"", etm: bool = False
    ) -> ChachaEncryption:
        # ChachaEncryption only calls the three methods NativeChachaCipher shares with ChachaCipher
        return cls(cast(ChachaCipher, NativeChachaCipher(key)))


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
