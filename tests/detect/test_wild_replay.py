"""3,262 real honeypot requests through the `honeyguard detect` logic: no crash, plausible labels."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest

from honeyguard.cli.detect import classify_lines
from honeyguard.detect import httpfields, httpsubject
from honeyguard.detect.engine import Match
from honeyguard.detect.fields import event_subject
from honeyguard.detect.httpsplit import split_http
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.labeler import RuleLabeler
from honeyguard.model import HttpRequest
from tests.detect._support import WILD, builtin_engine, http_event


def test_wild_requests_are_labelled_plausibly() -> None:
    lines = WILD.read_bytes().splitlines(keepends=True)
    out = io.BytesIO()
    bad: list[tuple[int, str]] = []
    done, skipped = classify_lines(iter(lines), RuleLabeler(builtin_engine("hyperscan")), out,
                                   lambda n, why: bad.append((n, why)))
    assert (done, skipped, bad) == (len(lines), 0, [])
    results = [json.loads(x) for x in out.getvalue().splitlines()]
    requests = {json.loads(x)["id"]: base64.b64decode(json.loads(x)["request_b64"]) for x in lines}
    assert [r["id"] for r in results] == list(requests)

    by_line = {r["id"]: r for r in results}
    creates = [i for i, raw in requests.items() if raw.startswith(b"POST ") and b"/containers/create" in
               raw.split(b"\r\n", 1)[0]]
    assert len(creates) > 100
    assert all("hg-tech-docker-container-create" in by_line[i]["rules"] for i in creates)
    escapes = [i for i in creates if b'"Binds":["/:/' in requests[i]]
    assert escapes and all("hg-tech-docker-host-escape" in by_line[i]["rules"] for i in escapes)
    assert all("T1610" in by_line[i]["techniques"] for i in creates)

    ordinary_targets = (b"/", b"/robots.txt", b"/favicon.ico", b"/sitemap.xml")
    ordinary = [i for i, raw in requests.items()
                if raw.split(b" ", 2)[0] in (b"GET", b"HEAD") and raw.split(b" ", 2)[1] in ordinary_targets
                and b"${" not in raw and b"() {" not in raw]
    assert len(ordinary) > 100
    assert [i for i in ordinary if by_line[i]["cves"]] == []

    dotenv = [i for i, raw in requests.items() if raw.split(b" ", 2)[1].split(b"?")[0].endswith(b"/.env")]
    assert dotenv and all("hg-tech-dotenv-scan" in by_line[i]["rules"] for i in dotenv)

    # IOCs: the droppers inside container commands reveal their download servers
    downloads = {i["value"] for r in results for i in r["iocs"] if i["role"] == "download" and i["type"] == "url"}
    assert any("cronb.sh" in url for url in downloads)
    for result in results:  # the victim's own Host is never an IOC
        raw = requests[result["id"]]
        if b"\r\nHost: " not in raw:
            continue
        own = raw.split(b"\r\nHost: ", 1)[1].split(b"\r\n", 1)[0].decode("latin-1").rsplit(":", 1)[0].lower()
        assert own not in {i["value"] for i in result["iocs"] if i["type"] in ("domain", "ip")}, result["id"]


def test_wild_requests_recorded_by_a_sensor_match_the_same_natively_and_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sensor's events (recorded strings, the subject cut from their raw bytes): the request
    line's fields and 'request' made in one C call (_decoders.recorded_fields) or by the Python."""
    requests = []
    for line in WILD.read_bytes().splitlines():
        parts = split_http(base64.b64decode(json.loads(line)["request_b64"]))
        if parts is not None:
            method, target, version = (piece.decode("latin-1") for piece in parts[:3])
            headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in parts.headers]
            body = parts.body
            requests.append(HttpRequest(method=method, target=target, version=version, headers=headers, body=body))
    assert len(requests) > 3000

    def labelled() -> tuple[list[Match], list[tuple[object, ...]]]:
        engine = builtin_engine("hyperscan")
        subjects = [_recorded_subject(request) for request in requests]
        matches = [found for at in range(0, len(subjects), 64) for found in engine.match_many(subjects[at : at + 64])]
        names = ("request", "method", "target", "path", "query", "url", "body")
        fresh = [_recorded_subject(request) for request in requests]
        return matches, [(*(subject.field(name) for name in names), subject.texts) for subject in fresh]

    native = labelled()
    if httpfields.native_recorded_fields is None:
        assert os.environ.get("CI") != "true"
    monkeypatch.setattr(httpsubject, "native_recorded_fields", None)
    python = labelled()
    assert sum(1 for found in native[0] if found.rules) > 1000
    assert native == python


def _recorded_subject(request: HttpRequest) -> HttpSubject:
    subject = event_subject(http_event(request))
    assert isinstance(subject, HttpSubject)
    return subject
