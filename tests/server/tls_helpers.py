"""A collector with TLS and/or required auth, as `honeyguard server run` with a settings file."""

from __future__ import annotations

from pathlib import Path

from tests.server.helpers import CollectorProcess, honeyguard


def secure_collector(data_dir: Path, *, tls: str = "", require_auth: bool | None = None,
                     host: str = "127.0.0.1") -> CollectorProcess:
    """A CollectorProcess whose settings add ``tls`` (YAML lines under server.tls) and require_auth."""
    proc = CollectorProcess(data_dir)
    lines = [f"data_dir: {data_dir}", "server:", f"  host: '{host}'", f"  port: {proc.port}"]
    if require_auth is not None:
        lines.append(f"  require_auth: {'true' if require_auth else 'false'}")
    if tls:
        lines.append("  tls:")
        lines += [f"    {line}" for line in tls.strip().splitlines()]
    lines += ["detect:", "  enabled: false", ""]
    proc.config.write_text("\n".join(lines), encoding="utf-8")
    scheme = "https" if tls else "http"
    proc.url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{proc.port}"
    return proc


def add_api_token(proc: CollectorProcess, name: str, role: str) -> str:
    result = honeyguard("token", "add", name, "--role", role, "--config", str(proc.config))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
