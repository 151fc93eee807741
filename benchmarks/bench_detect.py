"""Classification rate of `honeyguard detect` beside a naive loop, in the same run, on one core.

The input mixes real honeypot traffic (../shared/data/wild-http, when present) with every rule's
own positive and negative examples rendered as raw HTTP, so it holds both exploits and ordinary
requests. Each request is parsed from raw bytes and matched against the full rule set:

* engine: what `honeyguard detect` runs (the native Hyperscan scans when built: params.engine
  says which): one Hyperscan scan of the whole request for the rules'
  necessary factors, then only the fields of the rules still possible, built and scanned, and
  the condition trees of those rules (the result cache is not used: every request is distinct;
  the engine's bounded tables of decisions, from a set of factors or atoms hit to the rules it
  implies, are in play: every request is still split, decoded and scanned);
* naive: the same parsed fields, then every rule in turn, each of its patterns tried in Python.

A second figure adds IOC extraction (the full `detect` output line); a third replays the wild
capture as it arrived (repeats included) through `detect`'s result cache, reported apart.
Each figure carries the CPU time per request (steadier than wall time on a shared machine).
Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from honeyguard.detect import Ruleset, load_rules, raw_http_subject
from honeyguard.detect.compile import HYPERSCAN_AVAILABLE, atom_test, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.iocs import subject_iocs
from honeyguard.detect.labeler import RuleLabeler

BATCH = 256  # as `honeyguard detect` labels its input
WILD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wild-http" / "requests.jsonl"


def example_requests(ruleset: Ruleset) -> list[bytes]:
    out = []
    for rule in ruleset.rules:
        for example in rule.spec.examples.positive + rule.spec.examples.negative:
            if example.raw is not None:
                out.append(example.raw.encode("latin-1", "replace"))
            elif example.http is not None:
                http = example.http
                head = "".join(f"{k}: {v}\r\n" for k, v in http.headers.items())
                out.append(
                    f"{http.method} {http.target} {http.version}\r\n{head}\r\n{http.body}".encode("latin-1", "replace")
                )
    return out


def corpus(ruleset: Ruleset) -> list[bytes]:
    requests = example_requests(ruleset)
    if WILD.exists():
        requests += [base64.b64decode(json.loads(line)["request_b64"]) for line in WILD.open()]
    return requests


class NaiveMatcher:
    """Every rule, every pattern, in Python: what a first implementation would do."""

    def __init__(self, ruleset: Ruleset) -> None:
        program = ruleset.program
        self.rules = []
        for index, rule in enumerate(ruleset.rules):
            atoms = [i for i, owners in enumerate(program.atom_rules) if index in owners]
            tests = [(i, program.atoms[i].field, atom_test(program.atoms[i])) for i in atoms]
            protocols = {"http", "other"} if rule.spec.protocol != "ssh" else {"ssh"}
            self.rules.append((rule.id, protocols, tests, program.trees[index]))

    def match(self, subject: Subject) -> list[str]:
        found = []
        lowered: dict[str, bytes] = {}
        for rule_id, protocols, tests, tree in self.rules:
            if subject.protocol not in protocols:
                continue
            hits = set()
            for atom_id, field, test in tests:
                text = subject.fields.get(field)
                if text:
                    lower = lowered.get(field)
                    if lower is None:
                        lower = lowered[field] = text.lower()
                    if test(text, lower):
                        hits.add(atom_id)
            if hits and holds(tree, hits):
                found.append(rule_id)
        return found


def weighted_stream(limit: int) -> list[tuple[bytes, int]]:
    """The wild capture as it arrived: each distinct request repeated by its count, shuffled."""
    if not WILD.exists():
        return []
    stream: list[bytes] = []
    for line in WILD.open():
        item = json.loads(line)
        stream += [base64.b64decode(item["request_b64"])] * int(item.get("count") or 1)
    random.Random(7).shuffle(stream)
    return [(raw, 0) for raw in stream[:limit]]


def rate(requests: list[bytes], classify: Callable[[list[bytes]], object], seconds: float) -> tuple[float, float]:
    """(requests per second of wall time, CPU microseconds per request), ``classify`` taking
    batches of BATCH requests as `detect` does; on a shared machine the CPU time is the steadier."""
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        for first in range(0, len(requests), BATCH):
            classify(requests[first : first + BATCH])
        done += len(requests)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, (time.process_time() - cpu) / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run (seconds, not a minute)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rules, _errors = load_rules()
    ruleset = Ruleset(rules)
    engine = ruleset.engine("auto")
    naive = NaiveMatcher(ruleset)
    requests = list(dict.fromkeys(corpus(ruleset)))  # distinct requests: no cache can help the main figure
    seconds = 2.0 if args.quick else 10.0
    params = {
        "requests": len(requests),
        "rules": len(ruleset),
        "engine": engine.backend,
        "quick": args.quick,
        "cores": 1,
    }

    uncached = RuleLabeler(engine, cache_bytes=0)  # every request labelled afresh
    # as `honeyguard detect` does once its rules are loaded: what was loaded is left out of the
    # collector's full passes (they walked it again and again: ~3% of the engine's time)
    gc.freeze()

    def classify(batch: list[bytes]) -> object:
        return engine.match_many([raw_http_subject(raw) for raw in batch])

    def classify_naive(batch: list[bytes]) -> object:
        return [naive.match(raw_http_subject(raw)) for raw in batch]

    def label(batch: list[bytes]) -> object:
        return uncached.classify_raw_many([(raw, "http") for raw in batch])

    def label_naive(batch: list[bytes]) -> object:
        out = []
        for raw in batch:
            subject = raw_http_subject(raw)
            out.append((naive.match(subject), subject_iocs(subject)))
        return out

    # the two must agree before their speeds mean anything
    for raw, found in zip(requests, engine.match_many([raw_http_subject(r) for r in requests]), strict=True):
        if list(found.rules) != sorted(naive.match(raw_http_subject(raw))):
            raise SystemExit(f"engine and naive loop disagree on {raw[:80]!r}")
    # the same engine through the pip binding (a Python callback a match), when both are there
    pip_engine = (
        ruleset.engine("hyperscan-pip") if engine.backend == "hyperscan-native" and HYPERSCAN_AVAILABLE else None
    )

    def classify_pip(batch: list[bytes]) -> object:
        assert pip_engine is not None
        return pip_engine.match_many([raw_http_subject(raw) for raw in batch])

    for figure, fast, slow in (
        ("detect classification rate", classify, classify_naive),
        ("detect full labelling rate (rules + IOCs)", label, label_naive),
    ):
        value, cpu = rate(requests, fast, seconds)
        reference, reference_cpu = rate(requests, slow, seconds / 2)
        extra = {}
        if fast is classify and pip_engine is not None:
            pip_engine.match_many([raw_http_subject(raw) for raw in requests])  # its decision tables, as above
            extra["pip_binding_cpu_us_per_request"] = round(rate(requests, classify_pip, seconds / 2)[1], 1)
        print(
            json.dumps(
                {
                    "figure": figure,
                    "value": round(value),
                    "unit": "requests/s",
                    "reference": {
                        "name": "naive loop: every rule's patterns in turn in Python",
                        "value": round(reference),
                        "unit": "requests/s",
                    },
                    "ratio": round(value / reference, 2),
                    "target": ">= 100000 requests/s and >= 50x the naive loop",
                    "params": {
                        **params,
                        "distinct": len(set(requests)),
                        "cpu_us_per_request": round(cpu, 1),
                        "reference_cpu_us_per_request": round(reference_cpu, 1),
                        "cpu_ratio": round(reference_cpu / cpu, 2),
                        **extra,
                    },
                }
            ),
            flush=True,
        )
    stream = [raw for raw, _ in weighted_stream(200_000 if not args.quick else 30_000)]
    if stream:
        labeler = RuleLabeler(engine)  # one pass from a cold cache, as `detect` reads a capture
        start, cpu_start = time.perf_counter(), time.process_time()
        for first in range(0, len(stream), BATCH):
            labeler.classify_raw_many([(raw, "http") for raw in stream[first : first + BATCH]])
        value = len(stream) / (time.perf_counter() - start)
        cpu = (time.process_time() - cpu_start) / len(stream) * 1e6
        reference, reference_cpu = rate(stream[:2000], label_naive, seconds / 2)
        print(
            json.dumps(
                {
                    "figure": "detect full labelling rate on the traffic-weighted wild stream (result cache)",
                    "value": round(value),
                    "unit": "requests/s",
                    "reference": {
                        "name": "naive loop: every rule's patterns in turn in Python, no cache",
                        "value": round(reference),
                        "unit": "requests/s",
                    },
                    "ratio": round(value / reference, 2),
                    "target": ">= 100000 requests/s and >= 50x the naive loop",
                    "params": {
                        **params,
                        "requests": len(stream),
                        "distinct": len(set(stream)),
                        "cpu_us_per_request": round(cpu, 1),
                        "reference_cpu_us_per_request": round(reference_cpu, 1),
                    },
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
