"""The collector's certificate: the configured files, or a self-signed one made once under
data_dir/tls/collector.{crt,key} whose SAN holds every name the collector is reached by.

Sensors then verify it with ``ca_file`` (a copy of collector.crt) or ``pin_sha256`` (its
fingerprint, printed when the collector starts).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from honeyguard.config import Settings
from honeyguard.errors import ServiceError
from honeyguard.tlsutil import cert_sha256, pem_to_der, pretty_fingerprint

SELF_SIGNED_DAYS = 3650  # pinned, not chained to a CA: rotating it means re-pinning every sensor
_WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class CollectorCert:
    cert_file: Path
    key_file: Path
    sha256: str  # lowercase hex
    generated: bool  # made by this start

    @property
    def fingerprint(self) -> str:
        return pretty_fingerprint(self.sha256)


def tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """Where the collector's certificate and key are (or will be), None without ``server.tls``."""
    tls = settings.server.tls
    if tls is None:
        return None
    if tls.self_signed:
        folder = settings.path("tls")
        return folder / "collector.crt", folder / "collector.key"
    assert tls.cert_file and tls.key_file  # config._check_tls
    return Path(tls.cert_file), Path(tls.key_file)


def prepare_certificate(settings: Settings) -> CollectorCert | None:
    """The certificate to serve, generated when ``self_signed`` and absent; checked to load."""
    files = tls_files(settings)
    if files is None:
        return None
    cert_file, key_file = files
    generated = False
    tls = settings.server.tls
    if tls is not None and tls.self_signed and not (cert_file.exists() and key_file.exists()):
        write_self_signed(cert_file, key_file, san_names(settings))
        generated = True
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert_file), str(key_file))
        der = pem_to_der(cert_file.read_bytes())
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ServiceError(f"collector TLS: cannot use {cert_file} with {key_file}: {exc}") from None
    return CollectorCert(cert_file=cert_file, key_file=key_file, sha256=cert_sha256(der), generated=generated)


def san_names(settings: Settings) -> list[str]:
    """The configured host (unless a wildcard), ``server.tls.names``, this machine's name and loopback."""
    names = [settings.server.host.strip("[]")] if settings.server.host.strip("[]") not in _WILDCARDS else []
    if settings.server.tls is not None:
        names += settings.server.tls.names
    names += [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    unique: list[str] = []
    for name in names:
        if name and name.lower() not in (n.lower() for n in unique):
            unique.append(name)
    return unique


def write_self_signed(cert_file: Path, key_file: Path, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "honeyguard collector"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "honeyguard")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _general_name(name: str):  # type: ignore[no-untyped-def]
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)

