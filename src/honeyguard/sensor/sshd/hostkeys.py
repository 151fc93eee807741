"""Host keys: generated once per sensor and kept, so the sensor's fingerprint never changes.

A real host whose key changed at every restart would give the sensor away (and set off every
client's known_hosts warning). The keys live under <data_dir>/ssh/ with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from honeyguard.errors import ServiceError

# (file name, asyncssh algorithm, RSA bits): the three key types a stock OpenSSH install generates
HOST_KEY_TYPES: tuple[tuple[str, str, int], ...] = (
    ("ssh_host_ed25519_key", "ssh-ed25519", 0),
    ("ssh_host_ecdsa_key", "ecdsa-sha2-nistp256", 0),
    ("ssh_host_rsa_key", "ssh-rsa", 3072),
)


def load_or_create_host_keys(folder: Path) -> list[asyncssh.SSHKey]:
    """The sensor's host keys, generating (and saving) the ones that do not exist yet."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise ServiceError(f"ssh: cannot create the host key folder {folder}: {exc}") from None
    keys = []
    for filename, algorithm, bits in HOST_KEY_TYPES:
        path = folder / filename
        if path.exists():
            try:
                keys.append(asyncssh.read_private_key(str(path)))
                continue
            except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                raise ServiceError(f"ssh: host key {path} cannot be read: {exc}") from None
        key = asyncssh.generate_private_key(algorithm, key_size=bits) if bits else \
            asyncssh.generate_private_key(algorithm)
        _write_private(path, key.export_private_key())
        keys.append(key)
    return keys


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)  # a crash mid-write must not leave a half key that fails every restart
