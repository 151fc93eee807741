"""Benchmark: ``flows analyze`` over 10 M VPC flow records with 100,000 indicators, on 2 threads,
beside a bare DuckDB ``count(*)`` scan of the same files measured in the same run. The analysis is
measured with its default (native) reader, then again with DuckDB's reader alone (figures suffixed
``_duckdb_reader``) for comparison.

    .venv/bin/python benchmarks/bench_flows.py [--quick] [--plain] [--records N] [--out DIR]

The data is generated once with DuckDB itself (cached under $TMPDIR/honeyguard-bench/): 20,000
instances using popular HTTPS services, DNS, NTP, a few hundred talking to a C2, rejected inbound
scans; 8 gzip files with a header line each, as AWS delivers them to S3 (``--plain``: the same data
uncompressed). Measurement runs in a fresh child process so that its peak RSS is the analysis's own.
Prints one JSON line per figure, with wall and CPU seconds of both in ``params`` (CPU time is
the steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 8
HOSTS = 20_000
SERVICES = 20_000
PEERS_PER_HOST = 12
C2 = "203.0.113.50"
THREADS = 2
MEMORY_LIMIT = "1GB"


def _ip(expr: str) -> str:
    return (
        f"(({expr}) // 16777216) || '.' || (({expr}) // 65536 % 256) || '.' || "
        f"(({expr}) // 256 % 256) || '.' || (({expr}) % 256)"
    )


def _records_sql(first: int, last: int, total: int) -> str:
    """Flow records [first, last) in the VPC Flow Logs v2 default format, as a query."""
    host = _ip("167837696 + hh")  # 10.1.0.0 + hh
    svc = _ip("872415232 + (s * 7919) % 16777216")  # 52.x.y.z, popular ones used by many hosts
    noise = _ip("1509949440 + hash(i, 3) % 100000000")  # random internet sources
    ntp = _ip("2915189760 + s % 4")
    return f"""
    WITH r AS (SELECT i, hash(i, 9) % 1000 AS k, hash(i, 1) % {HOSTS} AS h, 49152 + hash(i, 4) % 16000 AS eph,
                      1764400000 + (i * 86400 // {total}) AS t FROM range({first}, {last}) t(i)),
    s AS (SELECT *, floor({SERVICES} * pow((hash(h, hash(i, 2) % {PEERS_PER_HOST}) % 1000000) / 1e6, 3))::BIGINT
                    AS s,
                 CASE WHEN k BETWEEN 900 AND 904 THEN h % 400 ELSE h END AS hh FROM r)  -- 400 talk to the C2
    SELECT 2 AS version, '123456789012' AS "account-id", 'eni-' || lpad(printf('%x', hh), 17, '0') AS "interface-id",
      CASE WHEN k < 550 OR k BETWEEN 900 AND 904 THEN {host} WHEN k < 850 THEN {svc} WHEN k < 920 THEN {host}
           ELSE {noise} END AS srcaddr,
      CASE WHEN k BETWEEN 900 AND 904 THEN '{C2}' WHEN k < 550 THEN {svc} WHEN k < 850 THEN {host}
           WHEN k < 900 THEN '10.0.0.2' WHEN k < 920 THEN {ntp} ELSE {host} END AS dstaddr,
      CASE WHEN k < 550 THEN eph WHEN k < 850 THEN 443 WHEN k < 900 THEN eph WHEN k < 905 THEN eph
           WHEN k < 920 THEN 123 ELSE eph END AS srcport,
      CASE WHEN k < 550 THEN 443 WHEN k < 850 THEN eph WHEN k < 900 THEN 53 WHEN k < 905 THEN 443
           WHEN k < 920 THEN 123 ELSE (22 + hash(i, 5) % 4000) END AS dstport,
      CASE WHEN k BETWEEN 850 AND 899 OR k BETWEEN 905 AND 919 THEN 17 ELSE 6 END AS protocol,
      CASE WHEN k < 920 THEN 2 + hash(i, 6) % 60 ELSE 1 END AS packets,
      CASE WHEN k < 920 THEN 120 + hash(i, 7) % 90000 ELSE 44 END AS bytes,
      t AS start, t + 1 + hash(i, 8) % 60 AS "end",
      CASE WHEN k < 920 THEN 'ACCEPT' ELSE 'REJECT' END AS action, 'OK' AS "log-status"
    FROM s"""


def generate(folder: Path, records: int, indicators: int, gzip: bool = False) -> list[Path]:
    """Write (once) the flow files and the indicators CSV; later runs reuse them."""
    import duckdb

    marker = folder / "complete.json"
    suffix = ".log.gz" if gzip else ".log"
    files = [folder / f"flows-{n}{suffix}" for n in range(FILES)]
    params = {"records": records, "files": FILES, "indicators": indicators, "format": 2, "gzip": gzip}
    if not gzip:
        del params["gzip"]  # the plain data cached by earlier versions stays valid
    if marker.exists() and json.loads(marker.read_text()) == params:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET enable_progress_bar = false")
    per = records // FILES
    for n, path in enumerate(files):
        last = records if n == FILES - 1 else (n + 1) * per
        con.execute(
            f"COPY ({_records_sql(n * per, last, records)}) TO '{path}' "
            "(FORMAT csv, DELIMITER ' ', HEADER true, QUOTE ''" + (", COMPRESSION gzip)" if gzip else ")")
        )
    _write_indicators(folder / "indicators.csv", indicators)
    marker.write_text(json.dumps(params))
    return files


def _write_indicators(path: Path, count: int) -> None:
    rng = random.Random(2026)
    rows = ["value,type,role,confidence", f"{C2},ip,c2,90"]
    for n in range(100):  # a few popular services listed by a noisy feed: large blast radius
        s = int(SERVICES * (n / 100) ** 3)
        value = 872415232 + (s * 7919) % 16777216
        rows.append(f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255},ip,scanner,30")
    roles = ("c2", "malware-host", "scanner", "exploiter", "bruteforcer")
    while len(rows) < count + 1:
        a, b, c = rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)
        if len(rows) % 10 == 0:
            rows.append(f"5.{a}.{b}.0/24,cidr,{rng.choice(roles)},{rng.randint(20, 100)}")
        else:
            rows.append(f"5.{a}.{b}.{c},ip,{rng.choice(roles)},{rng.randint(20, 100)}")
    path.write_text("\n".join(rows) + "\n")


def measure(folder: Path, records: int, repeat: int, reader: str) -> None:
    """In a fresh process: bare count(*) scan and the analysis, best of ``repeat`` each, wall and CPU.
    ``reader``: "auto" (the native reader, the product's default) or "duckdb" (DuckDB's reader only)."""
    import duckdb

    from honeyguard.intel.flows import FlowSettings, analyze_flows, native
    from honeyguard.intel.flows.files import read_csv_sql

    files = sorted(folder.glob("flows-*.log*"))
    # The reference reads the same files with exactly the reader settings the analysis uses.
    bare_sql = f"SELECT count(*) FROM {read_csv_sql(files)}"
    settings = FlowSettings(threads=THREADS, memory_limit=MEMORY_LIMIT, reader=reader)
    used = "native" if reader == "auto" and native.available() else "duckdb"
    if reader == "auto" and used != "native":
        print("bench_flows: the native reader is not built (pip install -e .); measuring DuckDB's", file=sys.stderr)
    suffix = "" if reader == "auto" else "_duckdb_reader"
    bare_best = analysis_best = bare_cpu = analysis_cpu = float("inf")
    report = None
    for _ in range(repeat):
        con = duckdb.connect()
        con.execute(f"SET threads = {THREADS}")
        con.execute("SET enable_progress_bar = false")
        started, cpu = time.perf_counter(), time.process_time()
        counted = con.execute(bare_sql).fetchone()
        bare_best = min(bare_best, time.perf_counter() - started)
        bare_cpu = min(bare_cpu, time.process_time() - cpu)
        con.close()
        assert counted is not None and counted[0] == records + len(files), counted  # + one header each
        started, cpu = time.perf_counter(), time.process_time()
        report = analyze_flows(
            [folder / f.name for f in files], indicators=folder / "indicators.csv", settings=settings
        )
        analysis_best = min(analysis_best, time.perf_counter() - started)
        analysis_cpu = min(analysis_cpu, time.process_time() - cpu)
    assert report is not None and report.stats.records == records, report and report.stats
    # Peak RSS of this process, or of any child it waited for (none today): nothing escapes the figure.
    rss_mb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    params = {
        "reader": used,
        "records": records,
        "files": len(files),
        "indicators": report.stats.indicators,
        "threads": THREADS,
        "memory_limit": MEMORY_LIMIT,
        "repeat": repeat,
        "findings": len(report.findings),
        "blast_radius_entries": len(report.blast_radius),
        "conversations": report.stats.conversations,
        "cpu_count": os.cpu_count(),
        "gzip": files[0].suffix == ".gz",
        "wall_s": round(analysis_best, 3),
        "cpu_s": round(analysis_cpu, 3),
        "bare_wall_s": round(bare_best, 3),
        "bare_cpu_s": round(bare_cpu, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    rate, bare_rate = records / analysis_best, records / bare_best
    _line("flows_analyze_records_per_s" + suffix, round(rate), "records/s",
          ("duckdb bare count(*) scan, same files", round(bare_rate), "records/s"),
          rate / bare_rate, ">= 5000000 records/s and ratio >= 0.3", params)
    # CPU seconds of the whole process (both threads): steadier under contention
    cpu_rate, bare_cpu_rate = records / analysis_cpu, records / bare_cpu
    _line("flows_analyze_records_per_cpu_s" + suffix, round(cpu_rate), "records/CPU-s",
          ("duckdb bare count(*) scan, same files, per CPU-second", round(bare_cpu_rate), "records/CPU-s"),
          cpu_rate / bare_cpu_rate, "ratio >= 0.3 (the wall-clock target's, per CPU)", params)
    _line("flows_analyze_peak_rss" + suffix, round(rss_mb, 1), "MB", ("DuckDB memory_limit", 1024, "MB"),
          rss_mb / 1024, "< 2048 MB", params)


def _line(figure: str, value: float, unit: str, reference: tuple[str, float, str], ratio: float, target: str,
          params: dict[str, object]) -> None:
    """One JSON line: the figure beside its same-run reference."""
    name, ref_value, ref_unit = reference
    line = {"figure": figure, "value": value, "unit": unit,
            "reference": {"name": name, "value": ref_value, "unit": ref_unit},
            "ratio": round(ratio, 3), "target": target, "params": params}
    print(json.dumps(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 M records instead of 10 M")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "honeyguard-bench")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--plain", action="store_true", help="read uncompressed files (.log) instead of .log.gz")
    parser.add_argument("--no-duckdb-reader", action="store_true", help="skip the DuckDB-only reader's figures")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reader", default="auto", choices=["auto", "duckdb"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    records = args.records or (1_000_000 if args.quick else 10_000_000)
    repeat = args.repeat or (1 if args.quick else 2)
    if args.measure:
        measure(args.measure, records, repeat, args.reader)
        return 0
    gzip = not args.plain
    folder = args.out / f"flows-{records}-{args.indicators}{'-gz' if gzip else ''}"
    generate(folder, records, args.indicators, gzip=gzip)
    child = [
        sys.executable,
        __file__,
        "--measure",
        str(folder),
        "--records",
        str(records),
        "--repeat",
        str(repeat),
        "--indicators",
        str(args.indicators),
    ]
    # The product's path (native reader), then, for comparison, DuckDB's reader alone; each in its
    # own process so that each peak RSS is its own.
    readers = ["auto"] if args.no_duckdb_reader else ["auto", "duckdb"]
    codes = [subprocess.run([*child, "--reader", reader], check=False).returncode for reader in readers]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
