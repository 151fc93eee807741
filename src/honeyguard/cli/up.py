"""`honeyguard up`: the whole stack on loopback — a collector and a sensor, as two child processes
(each gets its own core, and the DuckDB writer is alone in its process). Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from honeyguard.cli._api import ensure_local_api_token
from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._run import console, listening_table
from honeyguard.config import Settings
from honeyguard.errors import HoneyguardError
from honeyguard.sensor.agent import TOKEN_FILE

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(config: ConfigOption = None) -> None:
        """Start a collector and a sensor on this machine (default: HTTP 8080, SSH 2222, API 8470)."""
        settings = settings_from(config)
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        token_path = ensure_local_token(settings)
        ensure_local_api_token(settings)  # data_dir/api.token: what `events list` etc. send
        stack = _Stack(config, data_dir)
        signal.signal(signal.SIGTERM, lambda *_: stack.request_stop())
        try:
            stack.start("server")
            stack.start("sensor")
            console.print(_summary(settings, token_path, stack))
            console.print("Ctrl-C stops both.")
            stack.wait()
        except (KeyboardInterrupt, _ChildFailed):
            pass  # a child that failed has already said why, in one line on our stderr
        finally:
            stack.stop()
        if stack.failed_status:
            sys.exit(stack.failed_status)


def ensure_local_token(settings: Settings) -> Path:
    """The local sensor's token file (mode 0600), created and registered when missing or stale."""
    from honeyguard.errors import AuthError
    from honeyguard.store.state import StateStore

    link = settings.sensor.collector
    path = Path(link.token_file) if link and link.token_file else settings.path(TOKEN_FILE)
    if link and link.token:
        return path  # the settings carry the token itself; nothing to create
    state = StateStore(settings.state_url)
    try:
        token = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        try:
            if state.verify_token(token) == settings.sensor.name:
                return path
        except AuthError:
            pass
        token = state.add_sensor(settings.sensor.name, replace=True)
    finally:
        state.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return path


class _Stack:
    """The two children. Each is started in its own session so that Ctrl-C reaches only us and
    we stop them in order: the sensor first (it flushes and ships), then the collector."""

    def __init__(self, config: Path | None, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.failed_status = 0
        self._stop_requested = False

    def start(self, noun: str) -> None:
        ready = self.data_dir / f".{noun}.ready"
        ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "honeyguard.cli.main", noun, "run", "--ready-file", str(ready)]
        if self.config is not None:
            args += ["--config", str(self.config)]
        child = subprocess.Popen(args, start_new_session=True)
        self.children[noun] = child
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            status = child.poll()
            if status is not None:  # it printed its one-line reason on our shared stderr
                self.failed_status = 2 if status == 2 else max(status, 1)
                raise _ChildFailed()
            if time.monotonic() > deadline or self._stop_requested:
                raise HoneyguardError(f"{noun} did not start within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)
        ready.unlink(missing_ok=True)

    def wait(self) -> None:
        while not self._stop_requested:
            for noun, child in self.children.items():
                status = child.poll()
                if status is not None:
                    console.print(f"[red]{noun} exited with status {status}; stopping[/]")
                    self.failed_status = status or 1
                    return
            time.sleep(0.2)

    def request_stop(self) -> None:
        self._stop_requested = True

    def stop(self) -> None:
        for noun in ("sensor", "server"):
            child = self.children.get(noun)
            if child is None or child.poll() is not None:
                continue
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                console.print(f"[red]{noun} did not stop in {STOP_TIMEOUT:.0f}s; killing it[/]")
                child.kill()
                child.wait()


class _ChildFailed(HoneyguardError):
    pass


def _summary(settings: Settings, token_path: Path, stack: _Stack):  # type: ignore[no-untyped-def]
    server = settings.server
    rows = [("collector API", f"http://{server.host}:{server.port}/api/v1",
             f"pid {stack.children['server'].pid}")]
    for listener in settings.sensor.listeners:
        rows.append((f"sensor: {listener.service}", f"{listener.host}:{listener.bind_port or listener.port}",
                     listener.persona or ""))
    rows.append(("data", str(Path(settings.data_dir).resolve()), f"token in {token_path}"))
    return listening_table("honeyguard up", rows)
