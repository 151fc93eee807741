"""A sensor with one HTTP listener and a spool-less sink, for bench_http.py (run as its own process).

Every event is still built, labelled and encoded to JSON, as a spool would; the sink only counts
them instead of writing them. Prints "ready" once listening; on SIGTERM prints the counts as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from honeyguard.config import Limits, Listener, SensorSettings
from honeyguard.model import Event, encode_event
from honeyguard.sensor.sensor import Sensor


class CountingSink:
    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.bytes = 0

    def emit(self, event: Event) -> None:
        self.bytes += len(encode_event(event))
        self.kinds[event.kind] += 1


async def serve(port: int, persona: str) -> dict[str, object]:
    sink = CountingSink()
    settings = SensorSettings(listeners=[Listener(service="http", port=port, persona=persona)],
                              limits=Limits(max_connections=4096, max_commands=1_000_000))
    with tempfile.TemporaryDirectory() as data_dir:
        sensor = Sensor(settings, sink=sink, data_dir=Path(data_dir))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await sensor.start()
        print("ready", flush=True)
        await stop.wait()
        await sensor.stop()
    return {"events": dict(sink.kinds), "json_bytes": sink.bytes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--persona", default="apache-ubuntu")
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    counts = runner(serve(args.port, args.persona))
    print(json.dumps(counts), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
