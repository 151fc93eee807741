"""3,262 real honeypot requests through the `honeyguard detect` logic: no crash, plausible labels."""

from __future__ import annotations

import base64
import io
import json

from honeyguard.cli.detect import classify_lines
from honeyguard.detect.labeler import RuleLabeler
from tests.detect._support import WILD, builtin_engine


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
