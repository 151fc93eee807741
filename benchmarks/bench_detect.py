"""Classification rate of `honeyguard detect` beside a naive loop, in the same run, on one core.

The input mixes real honeypot traffic (../shared/data/wild-http, when present) with every rule's
own positive and negative examples rendered as raw HTTP, so it holds both exploits and ordinary
requests. Each request is parsed from raw bytes and matched against the full rule set:

* engine: what `honeyguard detect` runs (Hyperscan prefilter, condition trees of hit rules only);
* naive: the same parsed fields, then every rule in turn, each of its patterns tried in Python.

A second figure adds IOC extraction (the full `detect` output line). Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from honeyguard.detect import Ruleset, load_rules, raw_http_subject
from honeyguard.detect.compile import atom_test, holds
from honeyguard.detect.fields import Subject
from honeyguard.detect.iocs import subject_iocs
from honeyguard.detect.labeler import RuleLabeler

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
                out.append(f"{http.method} {http.target} {http.version}\r\n{head}\r\n{http.body}"
                           .encode("latin-1", "replace"))
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


def rate(requests: list[bytes], classify: Callable[[bytes], object], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while True:
        for raw in requests:
            classify(raw)
        done += len(requests)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


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
    requests = corpus(ruleset)
    seconds = 2.0 if args.quick else 10.0
    params = {"requests": len(requests), "rules": len(ruleset), "engine": engine.backend,
              "quick": args.quick, "cores": 1}

    def classify(raw: bytes) -> object:
        return engine.match(raw_http_subject(raw))

    def classify_naive(raw: bytes) -> object:
        return naive.match(raw_http_subject(raw))

    def label(raw: bytes) -> object:
        subject = raw_http_subject(raw)
        return engine.match(subject), subject_iocs(subject)

    def label_naive(raw: bytes) -> object:
        subject = raw_http_subject(raw)
        return naive.match(subject), subject_iocs(subject)

    # the two must agree before their speeds mean anything
    for raw in requests:
        subject = raw_http_subject(raw)
        if list(engine.match(subject).rules) != sorted(naive.match(subject)):
            raise SystemExit(f"engine and naive loop disagree on {raw[:80]!r}")
    for figure, fast, slow in (("detect classification rate", classify, classify_naive),
                               ("detect full labelling rate (rules + IOCs)", label, label_naive)):
        value = rate(requests, fast, seconds)
        reference = rate(requests, slow, seconds / 2)
        print(json.dumps({
            "figure": figure, "value": round(value), "unit": "requests/s",
            "reference": {"name": "naive loop: every rule's patterns in turn in Python", "value": round(reference),
                          "unit": "requests/s"},
            "ratio": round(value / reference, 2), "target": ">= 100000 requests/s and >= 50x the naive loop",
            "params": params,
        }), flush=True)
    stream = [raw for raw, _ in weighted_stream(200_000 if not args.quick else 30_000)]
    if stream:
        labeler = RuleLabeler(engine)  # one pass from a cold cache, as `detect` reads a capture
        start = time.perf_counter()
        for raw in stream:
            labeler.classify_raw(raw)
        value = len(stream) / (time.perf_counter() - start)
        reference = rate(stream[:2000], label_naive, seconds / 2)
        print(json.dumps({
            "figure": "detect full labelling rate on the traffic-weighted wild stream (result cache)",
            "value": round(value), "unit": "requests/s",
            "reference": {"name": "naive loop: every rule's patterns in turn in Python, no cache",
                          "value": round(reference), "unit": "requests/s"},
            "ratio": round(value / reference, 2), "target": ">= 100000 requests/s and >= 50x the naive loop",
            "params": {**params, "requests": len(stream), "distinct": len(set(stream))},
        }), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
