"""A self-signed certificate for HTTPS listeners, made once and kept under data_dir/tls/.

A stock Ubuntu box serves the "snakeoil" certificate: RSA 2048, self-signed, the host name as
CN, ten years valid. We make the same kind once and reuse it, so the sensor's fingerprint does
not change at every restart.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
from datetime import datetime, timedelta
from pathlib import Path

from honeyguard.errors import ServiceError


def certificate_paths(data_dir: Path, common_name: str) -> tuple[Path, Path]:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", common_name) or "sensor"
    folder = data_dir / "tls"
    return folder / f"{stem}.crt", folder / f"{stem}.key"


def ensure_certificate(data_dir: Path, common_name: str, now: datetime) -> tuple[Path, Path]:
    """The certificate and key for ``common_name``, made if they do not exist yet."""
    cert_path, key_path = certificate_paths(data_dir, common_name)
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    cert_pem, key_pem = _self_signed(common_name, now)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert_pem, mode=0o644)
    return cert_path, key_path


def server_context(data_dir: Path, common_name: str, now: datetime) -> ssl.SSLContext:
    cert_path, key_path = ensure_certificate(data_dir, common_name, now)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError) as exc:
        raise ServiceError(f"TLS certificate {cert_path} or key {key_path} is unusable: {exc}") from None
    return context


def _self_signed(common_name: str, now: datetime) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write atomically, so a crash never leaves half a key that the next start would trust."""
    temp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


class TlsLayer:
    """TLS over a plain transport, through memory buffers.

    The listener accepts plain TCP and decides on the first byte: a TLS record (0x16) goes through
    this layer; anything else is plain HTTP sent to an HTTPS port, which the persona answers the
    way the product does. Either way the connection is capped and recorded from its first byte.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.handshaken = False
        self.closed = False  # the peer sent close_notify

    def receive(self, data: bytes) -> bytes:
        """Decrypt what arrived; raises ssl.SSLError when the peer does not speak TLS we accept."""
        self._incoming.write(data)
        if not self.handshaken:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.handshaken = True
        plain = bytearray()
        while True:
            try:
                chunk = self._tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:
                break
            plain += chunk
        return bytes(plain)

    def send(self, data: bytes) -> None:
        if self.handshaken and data:
            self._tls.write(data)

    def close(self) -> None:
        """Queue a close_notify, best effort."""
        if self.handshaken:
            with contextlib.suppress(ssl.SSLError):
                self._tls.unwrap()

    def outgoing(self) -> bytes:
        """Bytes for the wire: handshake messages and encrypted records."""
        return self._outgoing.read()
