"""How CLI commands reach the collector's API: its URL (https when ``server.tls``), the trust for
its certificate, and the API token they send.

The token is ``--token``, else ``$HONEYGUARD_TOKEN``, else ``data_dir/api.token`` (written by
``honeyguard up``). The collector's certificate is trusted as the exact file the collector serves
(this machine runs it), else the system's CAs.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated

import httpx
import typer

from honeyguard.config import Settings

API_TOKEN_FILE = "api.token"  # in data_dir
LOCAL_TOKEN_NAME = "local-cli"  # the reader token `honeyguard up` keeps in data_dir/api.token

TokenOption = Annotated[str | None, typer.Option(
    "--token", help="API token (reader). Default: $HONEYGUARD_TOKEN, then data_dir/api.token.",
    show_default=False)]


def collector_url(settings: Settings) -> str:
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine reaches it on loopback
        host = "127.0.0.1" if host != "::" else "::1"
    scheme = "https" if settings.server.tls is not None else "http"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.server.port}"


def api_token(settings: Settings, given: str | None) -> str | None:
    if given:
        return given.strip()
    if os.environ.get("HONEYGUARD_TOKEN"):
        return os.environ["HONEYGUARD_TOKEN"].strip()
    path = settings.path(API_TOKEN_FILE)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def api_client(settings: Settings, url: str, token: str | None, timeout: float = 30) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(timeout=timeout, trust_env=False, headers=headers, verify=_verify(settings, url))


def _verify(settings: Settings, url: str) -> ssl.SSLContext | bool:
    if not url.lower().startswith("https://"):
        return True
    from honeyguard.server.tls import tls_files
    from honeyguard.tlsutil import context_trusting, pem_to_der

    files = tls_files(settings)
    if files is None or not files[0].exists():
        return True
    try:
        return context_trusting(pem_to_der(files[0].read_bytes()))
    except (OSError, ValueError, ssl.SSLError):
        return True


def write_secret(path: Path, secret: str) -> None:
    """A token file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


def ensure_local_api_token(settings: Settings) -> Path:
    """data_dir/api.token holds a live reader token (created, or renewed when missing or revoked)."""
    from honeyguard.errors import AuthError
    from honeyguard.store.apitokens import ApiTokens
    from honeyguard.store.state import StateStore

    path = settings.path(API_TOKEN_FILE)
    state = StateStore(settings.state_url)
    try:
        tokens = ApiTokens(state)
        current = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        try:
            tokens.verify(current)
            return path
        except AuthError:
            token = tokens.add(LOCAL_TOKEN_NAME, "reader", replace=True)
    finally:
        state.close()
    write_secret(path, token)
    return path
