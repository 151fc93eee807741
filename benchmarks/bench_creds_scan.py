"""AWS credential exposure scan: throughput on one core and recall/precision, beside detect-secrets.

Generates a corpus of mixed files (source code, JSON and text logs, YAML, minified JS, CSV, base64
blobs, markdown) with planted AWS key pairs in realistic places and traps of every kind (AWS
documentation examples, placeholders, git SHAs, random base64 next to "secret", ids with characters
outside the key alphabet, IAM resource ids). Both tools run pinned to the same core (taskset) on
files already in the page cache, in this same run.

detect-secrets is about three orders of magnitude slower, so it scans a documented subset: the first
shard(s) of the corpus (shards are generated identically); its rate is bytes of that subset over its
time, and its recall/precision are measured on the keys planted in that subset. Our scanner is
measured on the whole corpus and, for a like-for-like quality comparison, on the same subset.

Recall: planted key ids reported at their file and line. Precision: reported AWS-key results that
sit on a planted key id's line (or its secret's line: detect-secrets reports secrets on their own).
Only AWS-key results count for detect-secrets ("AWS Access Key"); its other plugins make no claim
about AWS keys. detect-secrets' time is its wall time minus its start-up time on an empty folder.

Usage: bench_creds_scan.py [--quick] [--keep DIR] [--cpu N]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MB = 1_000_000
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SHARDS = 10


# -- key material ------------------------------------------------------------------------------

def key_id(rng: random.Random, prefix: str = "AKIA") -> str:
    """An id whose body encodes a random account the way AWS does (bit 47 set, account in 46..7)."""
    acct = rng.randrange(10**11, 10**12)
    value = (1 << 47) | (acct << 7) | rng.getrandbits(7)
    return prefix + base64.b32encode(value.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")).decode()


def secret(rng: random.Random) -> str:
    return "".join(rng.choice(B64) for _ in range(40))


# -- filler ------------------------------------------------------------------------------------

WORDS = (
    "request", "user", "session", "config", "value", "server", "client", "handler", "error",
    "timeout", "retry", "bucket", "object", "upload", "download", "region", "account", "token",
    "cache", "index", "query", "result", "status", "deploy", "build", "release", "version",
    "module", "import", "export", "return", "function", "class", "const", "let", "var",
)


def _filler_line(rng: random.Random, kind: str) -> str:
    w = rng.choices(WORDS, k=8)
    n = rng.randrange(10**6)
    if kind == "py":
        return f"    {w[0]}_{w[1]} = {w[2]}.{w[3]}({w[4]}={n}, {w[5]}='{w[6]}')  # {w[7]}"
    if kind == "js":
        return f"  const {w[0]}{w[1].title()} = await {w[2]}.{w[3]}({{ {w[4]}: {n}, {w[5]}: '{w[6]}' }});"
    if kind == "json":
        return json.dumps({"ts": 1700000000 + n, "level": "INFO", "msg": " ".join(w[:5]), "id": n})
    if kind == "yaml":
        return f"  {w[0]}_{w[1]}: {w[2]}-{n}"
    if kind == "log":
        return (f"10.{n % 256}.{n // 256 % 256}.7 - - [01/Jan/2026:10:00:{n % 60:02d} +0000] "
                f"\"GET /{w[0]}/{w[1]}?id={n} HTTP/1.1\" 200 {n % 9000}")
    if kind == "csv":
        return ",".join([str(n), *w[:5], f"{n * 7 % 1000}.{n % 100:02d}"])
    if kind == "hex":
        return f"{rng.getrandbits(160):040x} {w[0]} {w[1]}"
    return " ".join(w).capitalize() + "."  # md


KINDS = {"py": ".py", "js": ".js", "json": ".json", "yaml": ".yaml", "log": ".log", "csv": ".csv",
         "hex": ".txt", "md": ".md", "minjs": ".min.js", "blob": ".b64"}


def _planted_block(rng: random.Random, kind: str) -> tuple[list[str], int, str]:
    """Lines holding one key pair, the index of the key id's line, and the key id."""
    kid, sec = key_id(rng, rng.choice(("AKIA", "AKIA", "AKIA", "ASIA"))), secret(rng)
    style = rng.randrange(6)
    if style == 0:
        return [f"AWS_ACCESS_KEY_ID={kid}", f"AWS_SECRET_ACCESS_KEY={sec}"], 0, kid
    if style == 1:
        return [f'    client = boto3.client("s3", aws_access_key_id="{kid}", '
                f'aws_secret_access_key="{sec}")'], 0, kid
    if style == 2:
        return [json.dumps({"AccessKeyId": kid, "SecretAccessKey": sec, "Region": "us-east-1"})], 0, kid
    if style == 3:
        return ["[default]", f"aws_access_key_id = {kid}", f"aws_secret_access_key = {sec}"], 1, kid
    if style == 4:
        return [f"  accessKeyId: '{kid}',", f"  secretAccessKey: '{sec}',"], 0, kid
    return [f"deploy key {kid} (secret {sec})"], 0, kid


def _trap_lines(rng: random.Random) -> list[str]:
    sha = f"{rng.getrandbits(160):040x}"
    return rng.choice([
        ["aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
         "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        ["AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX", "AWS_SECRET_ACCESS_KEY=<your-secret-here>"],
        ["AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID}", f"commit {sha}"],
        [f"aws_secret_access_key = {sha}"],
        [f"secret_token = {secret(rng)}"],
        ["legacy_id = AKIA1234567890ABCDEF"],
        [f'"RoleId": "{key_id(rng, "AROA")}Q", "UserId": "{key_id(rng, "AIDA")}A"'],
        ["AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP"],
    ])


def _text_file(rng: random.Random, kind: str, size: int, plant: int, traps: int,
               truth: list[tuple[str, int, str]], rel: str) -> bytes:
    lines: list[str] = []
    total = 0
    plant_at = sorted(rng.randrange(size) for _ in range(plant))
    trap_at = sorted(rng.randrange(size) for _ in range(traps))
    while total < size:
        while plant_at and plant_at[0] <= total:
            plant_at.pop(0)
            block, index, kid = _planted_block(rng, kind)
            truth.append((rel, len(lines) + index + 1, kid))
            lines.extend(block)
            total += sum(len(x) + 1 for x in block)
        while trap_at and trap_at[0] <= total:
            trap_at.pop(0)
            block = _trap_lines(rng)
            lines.extend(block)
            total += sum(len(x) + 1 for x in block)
        line = _filler_line(rng, kind)
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def _minjs(rng: random.Random, size: int) -> bytes:
    parts, total = [], 0
    while total < size:
        w = rng.choices(WORDS, k=4)
        part = f"function {w[0]}{rng.randrange(999)}(a,b){{return a.{w[1]}(b)+\"{w[2]}\"}};var {w[3]}=1;"
        parts.append(part)
        total += len(part)
    return "".join(parts).encode()


def _blob(rng: random.Random, size: int) -> bytes:
    raw = base64.b64encode(rng.randbytes(size * 3 // 4))
    return b"\n".join(raw[i:i + 76] for i in range(0, len(raw), 76)) + b"\n"


def generate(root: Path, total_bytes: int, seed: int = 2026) -> list[tuple[str, int, str]]:
    """Write SHARDS shards of mixed files; return (relative file, line, key id) of planted keys."""
    truth: list[tuple[str, int, str]] = []
    per_shard = total_bytes // SHARDS
    for shard in range(SHARDS):
        rng = random.Random(seed * 100 + shard)
        folder = root / f"shard-{shard:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        written, index = 0, 0
        while written < per_shard:
            kind = rng.choice(list(KINDS))
            size = min(int(rng.lognormvariate(10.5, 1.2)) + 512, 4 * MB, per_shard - written + 512)
            rel = f"shard-{shard:02d}/{kind}-{index:05d}{KINDS[kind]}"
            if kind == "minjs":
                data = _minjs(rng, size)
            elif kind == "blob":
                data = _blob(rng, size)
            else:  # about one key per 200 kB of text, and as many traps
                plant = rng.random() < size / 200_000
                data = _text_file(rng, kind, size, int(plant), int(rng.random() < size / 200_000),
                                  truth, rel)
            (root / rel).write_bytes(data)
            written += len(data)
            index += 1
    return truth


# -- runs ----------------------------------------------------------------------------------------

def _pinned(cpu: int) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset else []


def run_ours(paths: list[Path], cpu: int, repeats: int) -> tuple[float, int, set[tuple[str, int, str]]]:
    """Best of ``repeats`` in a child pinned to one core: (seconds, bytes, {(file, line, key id)})."""
    best = None
    for _ in range(repeats):
        done = subprocess.run([*_pinned(cpu), sys.executable, __file__, "--child", *map(str, paths)],
                              capture_output=True, check=True, timeout=3600)
        report = json.loads(done.stdout)
        if best is None or report["seconds"] < best["seconds"]:
            best = report
    assert best is not None
    return best["seconds"], best["bytes"], {tuple(x) for x in best["found"]}  # type: ignore[misc]


def child(paths: list[str]) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    from honeyguard.creds import Scanner

    started = time.perf_counter()
    result = Scanner().scan_paths(paths)
    seconds = time.perf_counter() - started
    found = [(h.finding.file, h.finding.line, h.finding.key_id) for h in result.hits
             if h.finding.verdict in ("exposed", "canary")]
    print(json.dumps({"seconds": seconds, "bytes": result.stats.bytes, "found": found}))


def run_detect_secrets(root: Path, subset: list[str], cpu: int) -> tuple[float, set[tuple[str, int]]]:
    exe = shutil.which("detect-secrets") or str(Path(sys.executable).parent / "detect-secrets")
    empty = Path(tempfile.mkdtemp(prefix="ds-empty-"))
    started = time.perf_counter()
    subprocess.run([*_pinned(cpu), exe, "scan", "--all-files", str(empty)], capture_output=True, check=True)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run([*_pinned(cpu), exe, "scan", "--all-files", *subset], cwd=root,
                          capture_output=True, check=True, timeout=7200)
    seconds = time.perf_counter() - started - startup
    shutil.rmtree(empty, ignore_errors=True)
    results = json.loads(done.stdout)["results"]
    found = {(r["filename"], r["line_number"]) for items in results.values() for r in items
             if r["type"] == "AWS Access Key"}
    return max(seconds, 1e-6), found


def quality(found_lines: set[tuple[str, int]], truth: list[tuple[str, int, str]],
            secret_lines: set[tuple[str, int]]) -> tuple[float, float]:
    wanted = {(f, line) for f, line, _ in truth}
    recall = len(wanted & found_lines) / len(wanted) if wanted else 1.0
    correct = {x for x in found_lines if x in wanted or x in secret_lines}
    precision = len(correct) / len(found_lines) if found_lines else 1.0
    return recall, precision


def _secret_lines(root: Path, truth: list[tuple[str, int, str]]) -> set[tuple[str, int]]:
    """The line after a key id's line, when it holds that key's secret (multi-line styles)."""
    lines: set[tuple[str, int]] = set()
    for rel, line, _ in truth:
        text = (root / rel).read_text().splitlines()
        if line < len(text) and "ecret" in text[line]:
            lines.add((rel, line + 1))
    return lines


def figure(name: str, value: float, unit: str, ref_name: str, ref_value: float, ref_unit: str,
           target: str, params: dict[str, object]) -> None:
    ratio = value / ref_value if ref_value else 0.0
    print(json.dumps({"figure": name, "value": round(value, 4), "unit": unit,
                      "reference": {"name": ref_name, "value": round(ref_value, 4), "unit": ref_unit},
                      "ratio": round(ratio, 3), "target": target, "params": params}), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="~20 MB corpus instead of 200 MB")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this folder")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin both scanners to")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    total = 20 * MB if args.quick else 200 * MB
    ds_shards = 2 if args.quick else 1  # detect-secrets subset: 4 MB quick, 20 MB full
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-creds-"))
    try:
        truth = generate(root, total)
        corpus_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        secret_lines = _secret_lines(root, truth)
        subset = [f"shard-{i:02d}" for i in range(ds_shards)]
        subset_truth = [t for t in truth if t[0].split("/", 1)[0] in subset]
        subset_bytes = sum(p.stat().st_size for s in subset for p in (root / s).rglob("*") if p.is_file())

        seconds, scanned, found = run_ours([root], cpu, repeats=3)
        ours_lines = {(str(Path(f).relative_to(root)), line) for f, line, _ in found}
        ours_rate = scanned / MB / seconds
        sub_seconds, sub_scanned, sub_found = run_ours([root / s for s in subset], cpu, repeats=3)
        ours_sub_lines = {(str(Path(f).relative_to(root)), line) for f, line, _ in sub_found}
        ds_seconds, ds_lines = run_detect_secrets(root, subset, cpu)
        ds_rate = subset_bytes / MB / ds_seconds

        params = {"corpus_mb": round(corpus_bytes / MB, 1), "files": sum(1 for _ in root.rglob("*.*")),
                  "planted_keys": len(truth), "cpu": cpu, "pinned": bool(_pinned(cpu)),
                  "detect_secrets_subset_mb": round(subset_bytes / MB, 1),
                  "detect_secrets_subset_keys": len(subset_truth), "quick": args.quick,
                  "contended": "2 shared cores" if os.cpu_count() == 2 else "unknown"}
        figure("creds_scan_throughput", ours_rate, "MB/s", "detect-secrets 1.5 scan --all-files",
               ds_rate, "MB/s", ">= 100 MB/s and >= 100x detect-secrets", params)
        recall, precision = quality(ours_lines, truth, secret_lines)
        s_recall, s_precision = quality(ours_sub_lines, subset_truth, secret_lines)
        d_recall, d_precision = quality(ds_lines, subset_truth, secret_lines)
        figure("creds_scan_recall", recall, "fraction", "detect-secrets recall (subset)", d_recall,
               "fraction", ">= detect-secrets", {**params, "ours_on_subset": round(s_recall, 4)})
        figure("creds_scan_precision", precision, "fraction", "detect-secrets precision (subset)",
               d_precision, "fraction", ">= detect-secrets",
               {**params, "ours_on_subset": round(s_precision, 4),
                "detect_secrets_aws_results": len(ds_lines), "ours_results": len(ours_lines)})
        _ = sub_seconds, sub_scanned
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
