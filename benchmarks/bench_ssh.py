"""SSH sensor: connections per second (full handshake + one password attempt) and server CPU per connection.

The server under test runs pinned to core 0 (taskset); the client, many concurrent asyncssh
connections in this process, runs pinned to core 1. Each connection does the whole key exchange,
one wrong password, and disconnects, as a brute forcer does. Server CPU comes from
/proc/<pid>/stat (utime+stime, plus cutime+cstime for sshd's reaped per-connection children).

References, measured in the same run with the same client: Debian's OpenSSH server
(/usr/sbin/sshd -D -f <generated config>) on loopback, with the same three host key types; and
the floor under the sensor: a bare asyncssh server with the sensor's very options (persona offer,
host keys) whose connection object records nothing, so sensor minus floor is our own work.
The algorithms the client and the sensor negotiated are in each figure's params.

Usage: .venv/bin/python benchmarks/bench_ssh.py [--quick] [--duration S] [--rounds N]
                                                [--concurrency N] [--client-cipher NAME]
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
from dataclasses import dataclass
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
CLIENT_OPTIONS: dict[str, object] = {}  # --client-cipher puts one cipher first in the client's offer


async def _one(port: int, client_factory: type[asyncssh.SSHClient] | None = None) -> bool:
    try:
        conn = await asyncssh.connect("127.0.0.1", port, username="root", password="wrong-password",
                                      known_hosts=None, client_keys=None, agent_path=None,
                                      preferred_auth="password", connect_timeout=30, login_timeout=30,
                                      server_host_key_algs=CLIENT_HOST_KEY_ORDER, client_factory=client_factory,
                                      **CLIENT_OPTIONS)  # type: ignore[arg-type]
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


def negotiated(port: int) -> dict[str, str]:
    """What one connection of the load negotiated (host key, cipher, MAC), seen from the client."""
    seen: list[asyncssh.SSHClientConnection] = []

    class Probe(asyncssh.SSHClient):
        def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
            seen.append(conn)

    asyncio.run(_one(port, Probe))
    if not seen:
        return {}
    conn, key = seen[0], seen[0].get_server_host_key()
    return {"host_key": key.get_algorithm() if key else "", "cipher": conn.get_extra_info("send_cipher", ""),
            "mac": conn.get_extra_info("send_mac", "")}


@dataclass
class Run:
    rate: float  # connections/s (wall: bounded by the client's core as much as by the server's)
    cpu_ms: float  # server CPU per connection
    ok: int
    failed: int
    cpu_util: float  # share of the server's core used
    negotiated: dict[str, str]


def measure(pid: int, port: int, duration: float, concurrency: int, *, children: bool) -> Run:
    algorithms = negotiated(port)
    asyncio.run(load(port, min(1.0, duration / 4), concurrency))  # warm up (key caches, allocator)
    time.sleep(0.3)
    before = cpu_seconds(pid, children=children)
    ok, failed, elapsed = asyncio.run(load(port, duration, concurrency))
    time.sleep(0.5)  # let sshd reap its last children so their CPU is counted
    used = cpu_seconds(pid, children=children) - before
    return Run(rate=ok / elapsed, cpu_ms=1000 * used / max(ok, 1), ok=ok, failed=failed, cpu_util=used / elapsed,
               negotiated=algorithms)


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


def start_floor(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    command = [shutil.which("taskset") or "taskset", "-c", "0", sys.executable, str(Path(__file__).resolve()),
               "--serve-floor", str(port), str(data_dir)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def serve_floor(port: int, data_dir: str) -> None:
    """asyncssh with the sensor's options and per-connection preparation, recording nothing."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from honeyguard.config import Listener, SensorSettings
    from honeyguard.sensor.sensor import Sensor
    from honeyguard.sensor.services.ssh import DEFAULT_PERSONA, find_persona, kex_markers, server_options
    from honeyguard.sensor.sshd.hostkeys import load_or_create_host_keys
    from honeyguard.sensor.sshd.server import prepare_connection

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ctx = Sensor(SensorSettings(listeners=[Listener(service="ssh", port=port)]), sink=None,  # type: ignore[arg-type]
                 data_dir=Path(data_dir)).ctx
    persona = find_persona(DEFAULT_PERSONA, ctx)
    options = server_options(persona, load_or_create_host_keys(ctx.data_dir / "ssh"), ctx)
    markers = kex_markers(persona.algorithms)

    class Floor(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            prepare_connection(conn, lambda: list(markers))

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return False

    async def main() -> None:
        await asyncssh.create_server(Floor, "127.0.0.1", port, options=options)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_sshd(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        raise SystemExit("sshd is missing: run scripts/system-deps.sh (openssh-server)")
    keys = []
    for kind, bits in (("ed25519", []), ("ecdsa", ["-b", "256"]), ("rsa", ["-b", "3072"])):
        key = workdir / f"ssh_host_{kind}_key"
        if not key.exists():  # a later round keeps the first round's keys
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


def run_against(kind: str, duration: float, concurrency: int, workdir: Path) -> Run:
    port = free_port()
    if kind == "sensor":
        process = start_sensor(port, workdir / "sensor")
    elif kind == "floor":
        process = start_floor(port, workdir / "floor")
    else:
        process = start_sshd(port, workdir)
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
    parser.add_argument("--client-cipher", help="put this cipher first in the client's offer "
                        "(default: asyncssh's own order, chacha20-poly1305 first like OpenSSH's)")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the servers this many times; "
                        "each one's lowest CPU per connection is reported")
    parser.add_argument("--serve-sensor", nargs=2, metavar=("PORT", "DATA_DIR"))
    parser.add_argument("--serve-floor", nargs=2, metavar=("PORT", "DATA_DIR"))
    args = parser.parse_args()
    if args.serve_sensor:
        serve_sensor(int(args.serve_sensor[0]), args.serve_sensor[1])
        return
    if args.serve_floor:
        serve_floor(int(args.serve_floor[0]), args.serve_floor[1])
        return
    if args.client_cipher:
        CLIENT_OPTIONS["encryption_algs"] = [args.client_cipher]
    duration = args.duration or (3.0 if args.quick else 15.0)
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the client on core 1, the servers on core 0
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rounds: dict[str, list[Run]] = {"sensor": [], "floor": [], "sshd": []}
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        for _ in range(args.rounds):  # the servers alternate, so a burst of load elsewhere hits all of them
            for kind, runs in rounds.items():
                runs.append(run_against(kind, duration, args.concurrency, Path(tmp)))
    # each server's least disturbed round (lowest CPU per connection), as bench_http.py does
    sensor, floor, sshd = (min(runs, key=lambda run: run.cpu_ms) for runs in rounds.values())
    params = {"duration_s": duration, "rounds": args.rounds, "concurrency": args.concurrency,
              "client": "asyncssh on core 1",
              "client_cipher": args.client_cipher or "asyncssh default order", "server_core": 0,
              "negotiated": sensor.negotiated, "sensor_ok": sensor.ok, "sensor_failed": sensor.failed,
              "sensor_core_util": round(sensor.cpu_util, 2), "floor_ok": floor.ok, "floor_failed": floor.failed,
              "floor_cpu_ms": round(floor.cpu_ms, 3), "sshd_ok": sshd.ok, "sshd_failed": sshd.failed,
              "sshd_core_util": round(sshd.cpu_util, 2), "quick": args.quick}
    sshd_ref, floor_ref = "OpenSSH sshd (Debian)", "bare asyncssh, the sensor's options, nothing recorded"
    figures = [
        ("ssh_connections_per_second", sensor.rate, sshd_ref, sshd.rate, "connections/s"),
        ("ssh_server_cpu_per_connection", sensor.cpu_ms, sshd_ref, sshd.cpu_ms, "ms"),
        ("ssh_capacity_one_core", 1000 / max(sensor.cpu_ms, 1e-9), sshd_ref, 1000 / max(sshd.cpu_ms, 1e-9),
         "connections/s"),
        # the same sensor figure against what asyncssh alone costs: the part of it that is ours
        ("ssh_server_cpu_per_connection_vs_asyncssh_floor", sensor.cpu_ms, floor_ref, floor.cpu_ms, "ms"),
    ]
    for name, value, ref_name, reference, unit in figures:
        print(json.dumps({"figure": name, "value": round(value, 3), "unit": unit,
                          "reference": {"name": ref_name, "value": round(reference, 3), "unit": unit},
                          "ratio": round(value / reference, 3) if reference else None, "target": TARGET,
                          "params": params}), flush=True)


if __name__ == "__main__":
    main()
