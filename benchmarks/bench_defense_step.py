"""CPU of one defense-loop step with many decisions in force: empty, and with k changes.

The collector's defense loop (``Defense.step``) runs every quarter second. With N decisions in
force, an empty step (nothing arrived, nothing expired) and a step where k new sources exploit
and the previous step's k come back (k new decisions, k alerts withdrawn for a new decision:
3k changes saved) are timed in process (``time.process_time``, the figure contention leaves
alone), with the collector's GC settings. The reference, measured in the same run, is the same
step with ``REFERENCE_IN_FORCE`` decisions in force: the ratio says how the step's cost grows
with the decisions in force.

    .venv/bin/python benchmarks/bench_defense_step.py [--quick] [--in-force 1000,10000,60000]

The code measured is the first entry of an explicit PYTHONPATH, else this tree's ``src``: an
older copy (``git worktree add``) can be measured beside the current one.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT / "src"))

from honeyguard.clock import FakeClock, SeededEntropy  # noqa: E402
from honeyguard.config import default_settings  # noqa: E402
from honeyguard.model import Event, HttpRequest, UuidV7Factory  # noqa: E402
from honeyguard.server import defense as defense_module  # noqa: E402
from honeyguard.server.defense import Defense  # noqa: E402
from honeyguard.store.state import StateStore  # noqa: E402

T0 = datetime(2026, 6, 1, tzinfo=UTC)
IDS = UuidV7Factory(SeededEntropy(7))
REFERENCE_IN_FORCE = 100
BATCH = 2000  # sources decided per seeding step


def source(i: int) -> str:
    """Distinct addresses of 198.18.0.0/15, a few per /24 (as a scan spread over many ranges)."""
    return f"198.{18 + (i >> 16 & 1)}.{i & 255}.{i >> 8 & 255}"


def exploit(clock: FakeClock, src: str) -> Event:
    body = HttpRequest(method="GET", target="/cgi-bin/x", version="HTTP/1.1", headers=[])
    at = clock.now()
    return Event(
        id=IDS.new(at),
        ts=at,
        sensor="s1",
        location="eu",
        session="x",
        kind="http.request",
        src_ip=src,
        src_port=40000,
        dst_port=80,
        protocol="http",
        body=body,
        cves=["CVE-2017-17215"],
    )


def seeded(work: Path, in_force: int, clock: FakeClock) -> Defense:
    settings = default_settings(str(work))
    # decision ids from the FastEntropy the collector uses (SeededEntropy measured a tenth of a step)
    defense = Defense(settings, StateStore(settings.state_url, clock=clock), clock)
    defense.load([])
    for start in range(0, in_force, BATCH):
        defense.observe([exploit(clock, source(i)) for i in range(start, min(in_force, start + BATCH))])
        defense.step()
    return defense


def timed_steps(defense: Defense, clock: FakeClock, steps: int, changes: int, first: int) -> float:
    """CPU seconds a step: ``changes`` new sources, and the previous step's ``changes`` back (their
    alert withdrawn for a new decision)."""
    spent = 0.0
    previous: list[str] = []
    for n in range(steps):
        clock.advance(0.25)
        fresh = [source(first + n * changes + j) for j in range(changes)]
        defense.observe([exploit(clock, s) for s in (*fresh, *previous)])
        started = time.process_time()
        defense.step()
        spent += time.process_time() - started
        previous = fresh
    return spent / steps


def measure(in_force: int, steps: int, changes: int) -> dict[str, float]:
    clock = FakeClock(T0)
    with tempfile.TemporaryDirectory(prefix="hg-step-") as tmp:
        defense = seeded(Path(tmp), in_force, clock)
        clock.advance(1.0)
        defense.step()  # settles the service's copy of the store
        empty = timed_steps(defense, clock, steps, 0, in_force)
        busy = timed_steps(defense, clock, steps, changes, in_force)
        return {"empty": empty, "busy": busy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--in-force", default="1000,10000,60000")
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    defense_module.SWEEP_SECONDS = 1e9  # the minute's full sweep is timed apart (it re-decides everything)
    gc.freeze()  # the collector's collection settings (server/serve.py), or GC passes dominate
    gc.set_threshold(1_000_000, 20, 20)
    steps = 20 if args.quick else 60
    sizes = [int(s) for s in args.in_force.split(",")]
    reference = measure(REFERENCE_IN_FORCE, steps, args.changes)
    for size in sizes:
        found = measure(size, steps, args.changes)
        for kind, label in (("empty", "empty"), ("busy", f"{args.changes}_new_{args.changes}_replaced")):
            line: dict[str, Any] = {
                "figure": f"defense_step_cpu_{label}",
                "value": round(found[kind] * 1e6, 1),
                "unit": "us CPU/step",
                "reference": {
                    "name": f"same step, {REFERENCE_IN_FORCE} decisions in force",
                    "value": round(reference[kind] * 1e6, 1),
                    "unit": "us CPU/step",
                },
                "ratio": round(found[kind] / reference[kind], 2) if reference[kind] else None,
                "target": "independent of the decisions in force (ratio ~1)",
                "params": {
                    "in_force": size,
                    "steps": steps,
                    "changes": args.changes,
                    "src": os.environ.get("PYTHONPATH") or str(ROOT / "src"),
                },
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
