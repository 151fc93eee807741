"""The native chacha20-poly1305@openssh.com (sshd/_sshcipher.c) against asyncssh's own, and in use.

Equivalence: for random keys, sequence numbers (the 2**32 wrap included) and payload sizes up to
35,000 bytes, the native cipher's output is byte for byte asyncssh's, each decrypts the other's
packets, and both refuse the same tampered packets. Then real clients (OpenSSH, asyncssh) talk to
a sensor whose listener switched asyncssh to the native cipher.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys

import asyncssh
import pytest
from asyncssh.crypto.chacha import ChachaCipher
from asyncssh.encryption import ChachaEncryption, get_encryption
from asyncssh.packet import UInt64
from hypothesis import example, given, settings
from hypothesis import strategies as st

from honeyguard.config import LoginCredential, SshSettings
from honeyguard.sensor.sshd import chacha
from tests.conftest import tool
from tests.sensor.ssh_keys import fast_host_keys  # noqa: F401 - autouse fixture

CREDS = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="toor")])
WRAP = 2**32  # SSH sequence numbers are 32-bit and wrap; the nonce is their 64-bit encoding
SEQUENCES = st.one_of(st.integers(0, WRAP - 1), st.sampled_from([0, 1, WRAP - 2, WRAP - 1, WRAP, 2**64 - 1]))


def payload(seed: bytes, size: int) -> bytes:
    return hashlib.shake_256(seed).digest(size) if size else b""


def test_the_extension_is_built_in_ci() -> None:
    # Optional at runtime (asyncssh's own cipher stays), required where CI builds the project.
    assert chacha.available() or os.environ.get("CI") != "true"


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(min_size=64, max_size=64),
    seq=SEQUENCES,
    header=st.binary(min_size=4, max_size=4),
    seed=st.binary(min_size=8, max_size=8),
    size=st.integers(0, 35000),
)
@example(key=bytes(64), seq=WRAP - 1, header=bytes(4), seed=bytes(8), size=0)
@example(key=bytes(range(64)), seq=WRAP, header=b"\xff" * 4, seed=b"x" * 8, size=35000)
def test_native_matches_asyncssh(key: bytes, seq: int, header: bytes, seed: bytes, size: int) -> None:
    assert chacha.available()
    ours, theirs = chacha.native_cipher(key), ChachaCipher(key)
    nonce, data = UInt64(seq), payload(seed, size)
    packet, tag = ours.encrypt_and_sign(header, data, nonce)
    assert (packet, tag) == theirs.encrypt_and_sign(header, data, nonce)
    assert len(packet) == 4 + size and len(tag) == 16
    sealed_header, sealed_data = packet[:4], packet[4:]
    assert ours.decrypt_header(sealed_header, nonce) == theirs.decrypt_header(sealed_header, nonce) == header
    assert ours.verify_and_decrypt(sealed_header, sealed_data, nonce, tag) == data
    assert theirs.verify_and_decrypt(sealed_header, sealed_data, nonce, tag) == data


def _flip(data: bytes, bit: int) -> bytes:
    index = (bit // 8) % len(data)
    return data[:index] + bytes([data[index] ^ (1 << (bit % 8))]) + data[index + 1 :]


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=64, max_size=64),
    seq=SEQUENCES,
    seed=st.binary(min_size=8, max_size=8),
    size=st.integers(0, 2000),
    where=st.sampled_from(["tag", "header", "data", "seq", "short", "long"]),
    bit=st.integers(0, 2**16),
)
def test_tampered_packets_are_refused_like_asyncssh(
    key: bytes, seq: int, seed: bytes, size: int, where: str, bit: int
) -> None:
    ours, theirs = chacha.native_cipher(key), ChachaCipher(key)
    nonce = UInt64(seq)
    packet, tag = theirs.encrypt_and_sign(b"\0\0\0\x10", payload(seed, size), nonce)
    header, data = packet[:4], packet[4:]
    if where == "tag":
        tag = _flip(tag, bit)
    elif where == "header":
        header = _flip(header, bit)
    elif where == "data":
        data = _flip(data, bit) if data else data
    elif where == "seq":
        nonce = UInt64((seq + 1 + bit) % 2**64)
    elif where == "short":
        tag = tag[: bit % 16]
    elif where == "long":
        tag = tag + bytes(1 + bit % 4)
    tampered = where != "data" or bool(data)  # an empty payload has no bit to flip
    expected = theirs.verify_and_decrypt(header, data, nonce, tag)
    assert ours.verify_and_decrypt(header, data, nonce, tag) == expected
    assert (expected is None) == tampered


def test_bad_key_and_nonce_sizes_raise() -> None:
    with pytest.raises(ValueError):
        chacha.native_cipher(bytes(32))
    cipher = chacha.native_cipher(bytes(64))
    with pytest.raises(ValueError):
        cipher.encrypt_and_sign(bytes(4), b"data", bytes(12))
    with pytest.raises(ValueError):
        cipher.decrypt_header(bytes(4), bytes(4))


def test_registration_is_explicit_and_reversible() -> None:
    key = bytes(range(64))
    chacha.use_asyncssh_chacha()
    assert not chacha.native_chacha_in_use()
    assert type(get_encryption(chacha.CHACHA, key, b"")) is ChachaEncryption
    assert chacha.use_native_chacha()
    assert chacha.native_chacha_in_use()
    assert type(get_encryption(chacha.CHACHA, key, b"")) is chacha.NativeChachaEncryption


def test_importing_the_ssh_service_registers_nothing() -> None:
    # The bench's asyncssh floor imports the service module without starting a listener: it must
    # keep asyncssh's cipher, so that the floor stays asyncssh as shipped.
    code = (
        "import honeyguard.sensor.services.ssh, honeyguard.sensor.sshd.server\n"
        "from honeyguard.sensor.sshd import chacha\n"
        "print(chacha.available(), chacha.native_chacha_in_use())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_real_clients_through_the_native_cipher(make_sensor) -> None:  # type: ignore[no-untyped-def]
    chacha.use_asyncssh_chacha()
    sensor = make_sensor(["ssh"], ssh=CREDS)
    port = sensor.port("ssh")
    assert chacha.native_chacha_in_use()  # the listener start switched it
    command = [
        tool("sshpass"),
        "-p",
        "toor",
        tool("ssh"),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "PubkeyAuthentication=no",
        "-c",
        "chacha20-poly1305@openssh.com",
        "-p",
        str(port),
        "root@127.0.0.1",
        "echo " + "y" * 20000,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "y" * 20000 + "\n"

    async def with_asyncssh() -> tuple[str, str]:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username="root",
            password="toor",
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            connect_timeout=30,
            encryption_algs=["chacha20-poly1305@openssh.com"],
        ) as conn:
            echoed = await conn.run("echo " + "x" * 20000, check=True)
            return str(conn.get_extra_info("send_cipher")), str(echoed.stdout)

    cipher, echoed = asyncio.run(with_asyncssh())
    assert cipher == "chacha20-poly1305@openssh.com" and echoed == "x" * 20000 + "\n"
