"""Export of 1,000,000 decisions to each format: seconds and peak memory (one process per format).

Reference, in the same run: writing the same values one a line with no format (the floor).
Target: each format under 10 s and under 1 GB. Beside wall seconds and peak RSS, each line gives the
CPU seconds of the export (the figure that survives a shared machine) and the RSS after the input was
built (input_mb: the million Decision records alone, before any export work).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def make_decisions(n: int) -> list:  # type: ignore[type-arg]
    from honeyguard.model.decision import Decision

    out = []
    for i in range(n):
        kind = i % 10
        if kind < 6:
            type_, value = "ip", f"{45 + i % 50}.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        elif kind < 7:
            type_, value = "ip", f"2a01:4f8:{i // 65536:x}:{i % 65536:x}::1"
        elif kind < 9:
            type_, value = "domain", f"c2-{i}.bad{i % 97}.example"
        else:
            type_, value = "url", f"http://{45 + i % 50}.1.2.3/bins/{i}.sh"
        out.append(Decision(id=f"d{i}", indicator_id=f"indicator--{i}", type=type_, value=value, action="drop",
                            direction="ingress" if kind < 6 else "egress", created_at=NOW,
                            expires_at=NOW + timedelta(hours=1 + i % 100), roles=["exploiter"], confidence=80))
    return out


def run_one(name: str, n: int, out_dir: Path) -> None:
    decisions = make_decisions(n)
    input_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu_start = time.perf_counter(), time.process_time()
    if name == "reference-plain-lines":
        with (out_dir / "plain.txt").open("w") as handle:
            handle.writelines(d.value + "\n" for d in decisions)
    else:
        from honeyguard.export.base import exporter_registry

        exporter = exporter_registry()[name]
        files = getattr(exporter, "write_files", None)
        if files is not None:  # a folder format (MISP feed)
            files(decisions, NOW, out_dir / exporter.filename)
        else:
            with (out_dir / exporter.filename).open("w") as handle:
                exporter.write(decisions, NOW, handle)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_mb, "input_mb": input_mb}))


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--one":
        run_one(argv[1], int(argv[2]), Path(argv[3]))
        return
    from honeyguard.export.base import exporter_registry

    n = 100_000 if "--quick" in argv else 1_000_000
    out_dir = Path("bench-out/export")
    shutil.rmtree(out_dir, ignore_errors=True)  # a run cut short can leave a file where a folder goes
    out_dir.mkdir(parents=True)

    def measure(name: str) -> dict[str, float]:
        done = subprocess.run([sys.executable, __file__, "--one", name, str(n), str(out_dir)],
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    reference = measure("reference-plain-lines")
    for name in sorted(exporter_registry()):
        got = measure(name)
        print(json.dumps({
            "figure": f"export_seconds_{name}", "value": round(got["seconds"], 2), "unit": "s",
            "peak_mb": round(got["peak_mb"]), "cpu_seconds": round(got["cpu_seconds"], 2),
            "cpu_us_per_decision": round(got["cpu_seconds"] / n * 1e6, 2), "input_mb": round(got["input_mb"]),
            "reference": {"name": "plain_lines_seconds", "value": round(reference["seconds"], 2), "unit": "s",
                          "peak_mb": round(reference["peak_mb"]), "cpu_seconds": round(reference["cpu_seconds"], 2)},
            "ratio": round(got["seconds"] / max(reference["seconds"], 1e-9), 1),
            "target": "< 10 s and < 1024 MB", "params": {"decisions": n},
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
