"""The native IOC scans (_iocscan, and the gates on _hsnative): built in CI, the same answers as
the pure-Python fallback and as ``re`` on random and hostile input, and extraction through the
fallback gives exactly what it gives through them (the reference corpus, random payloads)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.detect import hsnative
from honeyguard.detect.fields import looks_like_payload
from honeyguard.detect.iocs import anchored, collector, downloads, hosts
from honeyguard.detect.iocs import gates as G
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.extract import Job, extract_iocs, extract_many
from tests.detect import _ioc_corpus as corpus
from tests.detect._support import joined_payloads, swap_all
from tests.detect.test_ioc_anchored import SHAPES, _random_texts

extract_module = sys.modules["honeyguard.detect.iocs.extract"]  # the package exports functions by these names
layers_module = sys.modules["honeyguard.detect.iocs.layers"]
package = sys.modules["honeyguard.detect.iocs"]
MIB = 1024 * 1024


def test_the_extension_is_built_in_ci() -> None:
    # Optional at runtime (the Python scans take over), required where CI builds the project.
    assert anchored.NATIVE_AVAILABLE or os.environ.get("CI") != "true"
    assert (G.BACKEND == "hyperscan") == (hsnative.NATIVE is not None or hsnative.PIP is not None)


def _scans(text: bytes) -> tuple[object, ...]:
    """Every scan's answer, by the extractors' functions in use (native where built)."""
    return (
        anchored.urls(text),
        anchored.ipv4s(text),
        anchored.download_commands(text),
        [collector.url_parts(url.rstrip(b".,:'\")")) for url in anchored.urls(text)[:200]],
        [collector.parse_url(url) for url in anchored.urls(text)[:200]],
        G.gates(text),
        G.gates(text) & G.PAYLOAD != 0,
    )


def _reference_scans(text: bytes) -> tuple[object, ...]:
    """The same answers by ``re`` (and the gates without Hyperscan)."""
    urls = P.URL.findall(text)
    parts = [P.URL_PARTS.match(url.rstrip(b".,:'\")")) for url in urls[:200]]
    return (
        urls,
        P.IPV4.findall(text),
        [(m.group(), m.group(1).lower(), m.group(2)) for m in P.DOWNLOAD_CMD.finditer(text)],
        [match.groups() if match else None for match in parts],
        [collector.py_parse_url(url) for url in urls[:200]],
        G.python_gates(text),
        looks_like_payload(text),
    )


def _python_scans(text: bytes) -> tuple[object, ...]:
    """The same answers by the pure-Python fallback."""
    urls = anchored.py_urls(text)
    return (
        urls,
        anchored.py_ipv4s(text),
        anchored.py_download_commands(text),
        [collector.py_url_parts(url.rstrip(b".,:'\")")) for url in urls[:200]],
        [collector.py_parse_url(url) for url in urls[:200]],
        G.python_gates(text),
        G.python_gates(text) & G.PAYLOAD != 0,
    )


def test_scans_equal_the_regexes_and_the_fallback_on_shapes_and_noise() -> None:
    for text in SHAPES + _random_texts(5000):
        expected = _reference_scans(text)
        assert _scans(text) == expected, text
        assert _python_scans(text) == expected, text


_ALPHABET = st.sampled_from(
    [
        b"http",
        b"HTTPS",
        b"://",
        b"stratum+tcp",
        b"wget",
        b"busybox ",
        b"curl",
        b"1",
        b"25",
        b"255",
        b"9",
        b".",
        b" ",
        b"\t",
        b"/",
        b"@",
        b"[",
        b"]",
        b":",
        b";",
        b"|",
        b"+",
        b"-",
        b"_",
        b"x",
        b"\x00",
        b"\xff",
        b"\xc3(",
        b"\n",
        b"a" * 63,
        b"ab.",
        b"${",
        b"%2e",
        b"\\x41",
        b"() {",
        b"()\r\n {",
        b"<?",
        b"`",
        b"$(",
        b"JNDI",
        b"/dev/",
        b"base64",
    ]
)
_TEXT = st.one_of(st.binary(max_size=200), st.lists(_ALPHABET, max_size=60).map(b"".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_scans_equal_the_regexes_and_the_fallback_on_random_input(text: bytes) -> None:
    expected = _reference_scans(text)
    assert _scans(text) == expected
    assert _python_scans(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\x00" * (16 * MIB) + b" wget http://198.51.100.7/a",
        b"9" * (16 * MIB),
        b"1." * (8 * MIB),
        b"\xff\xfe\xc3(" * (4 * MIB) + b"1.2.3.4",
        b"busybox" + b" " * MIB + b"wget" + b"x" * MIB,
        b"http://" + b"a" * (4 * MIB),
        b"http://" + b"a." * (2 * MIB) + b":99999999",
        b"://" * MIB,
    ],
    ids=[
        "empty",
        "16MiB-nul",
        "16MiB-digits",
        "16MiB-digits-dots",
        "invalid-utf8",
        "busybox-spaces",
        "long-url",
        "long-host",
        "scheme-marks",
    ],
)
def test_hostile_input_gives_what_the_regexes_give(text: bytes) -> None:
    # linear scans, bounded matches: each finishes and agrees with re on inputs of many MiB
    assert _scans(text) == _reference_scans(text)


def test_native_scans_refuse_what_is_not_bytes() -> None:
    if not anchored.NATIVE_AVAILABLE:  # the fallback is in use: the Python scans
        assert anchored.urls is anchored.py_urls and collector.parse_url is collector.py_parse_url
        return
    scans = (anchored.urls, anchored.ipv4s, anchored.download_commands, collector.url_parts, collector.parse_url)
    for function in scans:
        for wrong in ("text", bytearray(b"http://x/"), memoryview(b"1.2.3.4"), None, 7):
            with pytest.raises(TypeError):
                function(wrong)  # type: ignore[arg-type]


#: (module, name, Python twin) of every native scan IOC extraction uses
PYTHON_TWINS = (
    (extract_module, "urls", anchored.py_urls),
    (extract_module, "ipv4s", anchored.py_ipv4s),
    (extract_module, "download_commands", anchored.py_download_commands),
    (anchored, "urls", anchored.py_urls),
    (collector, "url_parts", collector.py_url_parts),
    (collector, "parse_url", collector.py_parse_url),
    (layers_module, "gates", G.python_gates),
    (package, "_open_gates", G.python_gates),
    (extract_module, "run_jobs", None),  # whole jobs in C (native_jobs): every job runs in Python
    (package, "what_to_extract", None),
)


@contextmanager
def python_fallback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Extraction as it runs without the C extension and without Hyperscan: every native scan
    replaced by its Python version, the memos emptied so none answers from the other path."""
    with monkeypatch.context() as patch:
        swap_all(patch, PYTHON_TWINS)
        _clear_memos()
        yield
    _clear_memos()


def _clear_memos() -> None:
    for memo in (downloads.download_ops, collector._parsed_url, collector.host_class, hosts.ip_kind):
        memo.cache_clear()


def _plain(iocs: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(i.type, i.value, i.role) for i in iocs]


def test_the_fallback_gives_the_reference_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, expected = corpus.inputs(), corpus.reference()
    with python_fallback(monkeypatch):
        found = []
        for start in range(0, len(inputs), 50):
            found += [_plain(iocs) for iocs in extract_many([Job(t, h) for t, h in inputs[start : start + 50]])]
    assert found == [[tuple(i) for i in iocs] for iocs in expected]


_payload = joined_payloads(corpus.PIECES)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(_payload, min_size=1, max_size=3), st.sampled_from(corpus.HOSTS))
def test_the_fallback_and_the_native_scans_extract_the_same(
    monkeypatch: pytest.MonkeyPatch, texts: list[bytes], host: bytes
) -> None:
    native = _plain(extract_iocs(texts, host=host))
    with python_fallback(monkeypatch):
        assert _plain(extract_iocs(texts, host=host)) == native
