"""SSH sensor: connections per second (full handshake + one password attempt) and server CPU per connection.

The server under test runs pinned to core 0 (taskset); the client, many concurrent asyncssh
connections in this process, runs pinned to core 1. Each connection does the whole key exchange,
one wrong password, and disconnects, as a brute forcer does. Server CPU comes from
/proc/<pid>/stat (utime+stime, plus cutime+cstime for sshd's reaped per-connection children).

Reference, measured in the same run with the same client: Debian's OpenSSH server
(/usr/sbin/sshd -D -f <generated config>) on loopback, with the same three host key types.

Usage: .venv/bin/python benchmarks/bench_ssh.py [--quick] [--duration S] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")
# OpenSSH's client preference (certificate types aside): most clients pick the Ed25519 host key,
# whose signature is ~30x cheaper than RSA-3072's. Both servers are measured with the same order.
CLIENT_HOST_KEY_ORDER = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
TARGET = ">= 1000 connections/s on one core (<= 1 ms server CPU per connection)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int, *, children: bool) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + ((cutime + cstime) if children else 0)) / TICKS


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# -- the client load ------------------------------------------------------------------------
async def _one(port: int) -> bool:
    try:
        conn = await asyncssh.connect("127.0.0.1", port, username="root", password="wrong-password",
                                      known_hosts=None, client_keys=None, agent_path=None,
                                      preferred_auth="password", connect_timeout=30, login_timeout=30,
                                      server_host_key_algs=CLIENT_HOST_KEY_ORDER)
    except asyncssh.PermissionDenied:
        return True  # the expected end: handshake done, one password refused
    except (OSError, asyncssh.Error, TimeoutError):
        return False
    conn.close()
    return True


async def load(port: int, duration: float, concurrency: int) -> tuple[int, int, float]:
    ok = failed = 0
    deadline = time.monotonic() + duration

    async def worker() -> None:
        nonlocal ok, failed
        while time.monotonic() < deadline:
            if await _one(port):
                ok += 1
            else:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed, time.monotonic() - started


def measure(pid: int, port: int, duration: float, concurrency: int, *, children: bool) -> dict[str, float]:
    asyncio.run(load(port, min(1.0, duration / 4), concurrency))  # warm up (key caches, allocator)
    time.sleep(0.3)
    before = cpu_seconds(pid, children=children)
    ok, failed, elapsed = asyncio.run(load(port, duration, concurrency))
    time.sleep(0.5)  # let sshd reap its last children so their CPU is counted
    used = cpu_seconds(pid, children=children) - before
    return {"rate": ok / elapsed, "cpu_ms": 1000 * used / max(ok, 1), "ok": ok, "failed": failed,
            "cpu_util": used / elapsed}


# -- the servers ----------------------------------------------------------------------------
def start_sensor(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    command = [shutil.which("taskset") or "taskset", "-c", "0", sys.executable, str(Path(__file__).resolve()),
               "--serve-sensor", str(port), str(data_dir)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def serve_sensor(port: int, data_dir: str) -> None:
    """The sensor process: one SSH listener, events counted and dropped (the sink is not measured)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from honeyguard.config import Listener, SensorSettings, SshSettings
    from honeyguard.sensor.sensor import Sensor

    class CountingSink:
        count = 0

        def emit(self, event: object) -> None:
            CountingSink.count += 1

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    settings = SensorSettings(listeners=[Listener(service="ssh", port=port)],
                              ssh=SshSettings(accept_after_attempts=0))
    sensor = Sensor(settings, sink=CountingSink(), data_dir=Path(data_dir))

    async def main() -> None:
        await sensor.run(asyncio.Event())

    asyncio.run(main())


def start_sshd(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        raise SystemExit("sshd is missing: run scripts/system-deps.sh (openssh-server)")
    keys = []
    for kind, bits in (("ed25519", []), ("ecdsa", ["-b", "256"]), ("rsa", ["-b", "3072"])):
        key = workdir / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", str(key)], check=True)
        keys.append(f"HostKey {key}")
    config = workdir / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}", *keys, f"PidFile {workdir / 'sshd.pid'}",
        "UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "PermitRootLogin yes",
        "UseDNS no", "MaxStartups 10000", "MaxAuthTries 6", "LogLevel QUIET", "StrictModes no",
    ]) + "\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    command = [shutil.which("taskset") or "taskset", "-c", "0", sshd, "-D", "-f", str(config), "-p", str(port)]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_against(kind: str, duration: float, concurrency: int, workdir: Path) -> dict[str, float]:
    port = free_port()
    process = start_sensor(port, workdir / "sensor") if kind == "sensor" else start_sshd(port, workdir)
    try:
        wait_port(port)
        return measure(process.pid, port, duration, concurrency, children=kind == "sshd")
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--serve-sensor", nargs=2, metavar=("PORT", "DATA_DIR"))
    args = parser.parse_args()
    if args.serve_sensor:
        serve_sensor(int(args.serve_sensor[0]), args.serve_sensor[1])
        return
    duration = args.duration or (3.0 if args.quick else 15.0)
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the client on core 1, the servers on core 0
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        workdir = Path(tmp)
        sensor = run_against("sensor", duration, args.concurrency, workdir)
        sshd = run_against("sshd", duration, args.concurrency, workdir)
    params = {"duration_s": duration, "concurrency": args.concurrency, "client": "asyncssh on core 1",
              "server_core": 0, "sensor_ok": sensor["ok"], "sensor_failed": sensor["failed"],
              "sensor_core_util": round(sensor["cpu_util"], 2), "sshd_ok": sshd["ok"],
              "sshd_failed": sshd["failed"], "sshd_core_util": round(sshd["cpu_util"], 2),
              "quick": args.quick}
    figures = [
        ("ssh_connections_per_second", sensor["rate"], sshd["rate"], "connections/s"),
        ("ssh_server_cpu_per_connection", sensor["cpu_ms"], sshd["cpu_ms"], "ms"),
        ("ssh_capacity_one_core", 1000 / max(sensor["cpu_ms"], 1e-9), 1000 / max(sshd["cpu_ms"], 1e-9),
         "connections/s"),
    ]
    for name, value, reference, unit in figures:
        print(json.dumps({"figure": name, "value": round(value, 3), "unit": unit,
                          "reference": {"name": "OpenSSH sshd (Debian)", "value": round(reference, 3), "unit": unit},
                          "ratio": round(value / reference, 3) if reference else None, "target": TARGET,
                          "params": params}), flush=True)


if __name__ == "__main__":
    main()
