"""TLS helpers shared by the collector, the sensor's shipper and the CLI: fingerprints, pins and
client contexts. Nothing here ever turns verification off.

Pinning works without a verify callback (Python's ssl has none): the client first fetches the
peer's certificate, compares its SHA-256 with the pin, and only then connects for real with a
context that trusts exactly that certificate. A different certificate on the real connection
fails the handshake, so a request (and its token) never reaches a peer that does not hold the
pinned certificate's key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import ssl

_HEX_PIN = re.compile(r"^[0-9a-f]{64}$")


def normalise_pin(text: str) -> str:
    """A SHA-256 fingerprint as 64 lowercase hex digits; accepts ``AB:CD:...`` and a ``sha256:`` prefix."""
    cleaned = text.strip().lower().removeprefix("sha256:").removeprefix("sha256/").replace(":", "")
    if not _HEX_PIN.match(cleaned):
        raise ValueError("a certificate pin is the SHA-256 of the certificate: 64 hex digits "
                         "(colons allowed), as printed by `honeyguard server run`")
    return cleaned


def cert_sha256(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, lowercase hex."""
    return hashlib.sha256(der).hexdigest()


def pretty_fingerprint(hex_digest: str) -> str:
    """``AB:CD:...``, the way openssl and browsers show fingerprints."""
    upper = hex_digest.upper()
    return ":".join(upper[i:i + 2] for i in range(0, len(upper), 2))


def pins_match(actual: str, expected: str) -> bool:
    return hmac.compare_digest(actual.encode("ascii"), expected.encode("ascii"))


def pem_to_der(pem: bytes) -> bytes:
    """The first certificate of a PEM file's content, as DER; ValueError when there is none."""
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    start = pem.find(begin)
    stop = pem.find(end, start)
    if start < 0 or stop < 0:
        raise ValueError("no PEM certificate found")
    return ssl.PEM_cert_to_DER_cert(pem[start:stop + len(end)].decode("ascii"))


def context_with_ca(ca_file: str) -> ssl.SSLContext:
    """Verify the peer against ``ca_file`` (and its host name), like ``curl --cacert``."""
    context = ssl.create_default_context(cafile=ca_file)
    # a self-signed collector certificate given as the CA file is accepted as the anchor itself
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def context_trusting(cert_der: bytes) -> ssl.SSLContext:
    """Trust exactly this certificate (whatever name it carries): the pinned peer."""
    context = ssl.create_default_context(cadata=cert_der)
    context.check_hostname = False  # identity is the certificate itself, checked by the chain
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


async def peer_certificate(host: str, port: int, timeout: float) -> bytes:
    """The DER certificate a TLS server presents. Unverified on purpose: only ever compared to a pin."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    server_name = None if _is_address(host) else host
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=probe, server_hostname=server_name or ""), timeout)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2)
    del reader
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return bytes(der)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
