"""Privileged ports bound as root, then the sensor runs as an unprivileged user and keeps working."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import tool


def _free_privileged_port() -> int:
    for port in range(1000, 1024):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


def test_sensor_binds_a_privileged_port_then_runs_as_nobody(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test drops root privileges, so it runs as root (as CI does)"
    port = _free_privileged_port()
    # nobody must be able to reach the data folder and write the ready file: not under pytest's 0700 tmp
    base = Path(tempfile.mkdtemp(prefix="hg-priv-"))
    base.chmod(0o755)
    data = base / "data"
    config = tmp_path / "sensor.yaml"
    config.write_text(f"data_dir: {data}\nsensor:\n  name: priv\n  run_as: nobody\n  listeners:\n"
                      f"    - {{service: http, port: {port}}}\n  collector: null\ndetect: {{enabled: false}}\n")
    run_dir = base / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)
    ready = run_dir / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "honeyguard.cli.main", "sensor", "run", "--config", str(config),
                             "--ready-file", str(ready)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        nobody = pwd.getpwnam("nobody").pw_uid
        deadline = time.monotonic() + 10
        while os.stat(f"/proc/{proc.pid}").st_uid != nobody:  # the drop happens right after binding
            assert time.monotonic() < deadline, "still running as root"
            time.sleep(0.05)
        uids = [line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if line.startswith("Uid")]
        assert uids[0].split()[1:] == [str(nobody)] * 4
        status = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=30, check=False)
        assert status.stdout == "200"
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, out
    waiting = int(out.replace("\n", " ").split(" waiting")[0].split()[-1])
    assert waiting >= 2, out  # connect and request at least: written to the spool as nobody
    assert all(p.stat().st_uid == nobody for p in data.rglob("*"))
    shutil.rmtree(base)
