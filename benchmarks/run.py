"""Run every benchmarks/bench_*.py; each prints one JSON line per figure (with its reference)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        result = subprocess.run([sys.executable, str(script)], check=False)
        if result.returncode != 0:
            print(f'{{"figure": "{name}", "error": "exit {result.returncode}"}}', flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
