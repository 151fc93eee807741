"""The native Hyperscan scans (_hsnative): built in CI, the same answers as the pip binding and as
``re`` on every rule example and on the wild capture, and no input that crashes or misleads them."""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.detect import hsnative, httpsplit, nativesplit, raw_http_subject
from honeyguard.detect.examples import example_subject, run_examples
from honeyguard.detect.hsnative import NATIVE, NATIVE_AVAILABLE, PIP, ScanDatabase, id_mask, mask_ids
from tests.detect._support import WILD, builtin_engine, builtin_ruleset


def test_the_extension_is_built_in_ci() -> None:
    # Optional at runtime (the pip binding takes over), required where CI builds the project.
    assert NATIVE_AVAILABLE or os.environ.get("CI") != "true"


def test_auto_and_hyperscan_use_the_native_scans_when_built() -> None:
    expected = "hyperscan-native" if NATIVE_AVAILABLE else "hyperscan-pip"
    assert builtin_engine("auto").backend == builtin_engine("hyperscan").backend == expected
    assert builtin_engine("hyperscan-pip").backend == "hyperscan-pip"


def test_the_three_engines_agree_on_every_example_of_every_rule() -> None:
    ruleset = builtin_ruleset()
    engines = [builtin_engine("hyperscan"), builtin_engine("hyperscan-pip"), builtin_engine("re")]
    checks, failures = run_examples(ruleset, engines)
    assert checks >= 3 * 3 * 40
    assert [str(f) for f in failures] == []
    subjects = [
        example_subject(example)
        for rule in ruleset.rules
        for example in rule.spec.examples.positive + rule.spec.examples.negative
    ]
    # the whole match, one at a time and batched (the batch path scans field by field)
    found = [[engine.match(subject) for subject in subjects] for engine in engines]
    assert found[0] == found[1] == found[2]
    assert builtin_engine("hyperscan").match_many(subjects) == found[0]
    assert builtin_engine("hyperscan-pip").match_many(subjects) == found[0]


def test_native_and_pip_agree_on_the_wild_capture() -> None:
    raws = [base64.b64decode(json.loads(line)["request_b64"]) for line in WILD.read_bytes().splitlines()]
    assert len(raws) > 3000
    native = builtin_engine("hyperscan").match_many([raw_http_subject(raw) for raw in raws])
    pip = builtin_engine("hyperscan-pip").match_many([raw_http_subject(raw) for raw in raws])
    assert native == pip
    assert sum(1 for found in native if found.rules) > 500  # the capture is mostly attacks


@lru_cache(maxsize=1)
def _databases() -> list[tuple[ScanDatabase, ScanDatabase]]:
    """(native, pip) pairs of the built-in rules' databases: the prefilter and a few fields."""
    native, pip = builtin_engine("hyperscan"), builtin_engine("hyperscan-pip")
    pairs = [(native._prefilter._db, pip._prefilter._db)]  # type: ignore[union-attr]
    for name in ("path", "body", "request", "header.*", "method"):
        pairs.append((native._matcher.database("http", name), pip._matcher.database("http", name)))  # type: ignore[union-attr]
    assert all(a is not None and b is not None for a, b in pairs)
    return pairs  # type: ignore[return-value]


_PIECES = [b"GET /", b"../", b"%2e", b"${jndi:", b"union select", b"\r\n", b"\n ", b"/bin/sh", b"\x00", b"\xc0\xae"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.binary(max_size=64), st.sampled_from(_PIECES)),
        max_size=24,
    ).map(b"".join)
)
def test_native_scans_agree_with_pip_on_any_bytes(data: bytes) -> None:
    if PIP is None or NATIVE is None:
        assert not NATIVE_AVAILABLE or os.environ.get("CI") != "true"
        return
    for native, pip in _databases():
        assert native.scan(data) == (pip.scan(data) if data else 0)
        assert native.scan_many([data, b"", data]) == [native.scan(data), 0, native.scan(data)]


def test_native_scans_take_empty_huge_and_odd_inputs() -> None:
    if NATIVE is None:
        assert os.environ.get("CI") != "true"
        return
    huge = b"GET /../" + b"\xff%${" * (4 << 20)  # 16 MiB: longer than any field or view
    for native, _pip in _databases():
        assert native.scan(b"") == 0
        assert native.scan(bytearray(b"GET /../../etc/passwd")) == native.scan(b"GET /../../etc/passwd")
        assert native.scan(memoryview(huge)[:100]) == native.scan(huge[:100])
        assert native.scan(huge) >= 0
        assert native.scan_many([]) == []
        for wrong in (None, "text", 3):
            with pytest.raises(TypeError):
                native.scan(wrong)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                native.scan_many([b"ok", wrong])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            native.scan_many((b"a tuple",))  # type: ignore[arg-type]


def test_native_compile_and_load_refuse_bad_input() -> None:
    if NATIVE is None:
        assert os.environ.get("CI") != "true"
        return
    with pytest.raises(NATIVE.error):
        NATIVE.compile([b"a(b"], [0], [0])
    with pytest.raises(ValueError):
        NATIVE.compile([b"a\x00b"], [0], [0])  # a NUL would end the expression early
    with pytest.raises(ValueError):
        NATIVE.compile([b"a", b"b"], [0], [0])
    with pytest.raises(ValueError):
        NATIVE.compile([], [], [])
    with pytest.raises(ValueError):
        NATIVE.compile([b"a"], [1 << 30], [0])
    for blob in (b"", b"not a database", b"\x00" * 4096):
        with pytest.raises(NATIVE.error):
            NATIVE.load(blob, 10)
    database = NATIVE.compile([b"abc", b"^get"], [3, 700], [1, 1 | 4])
    assert mask_ids(database.scan(b"x\nGET ABC")) == {3, 700}
    again = NATIVE.load(NATIVE.dump(database), 700)
    assert again.scan(b"abc") == id_mask({3}) == 8


def test_mask_helpers_round_trip() -> None:
    for ids in (set(), {0}, {1, 5, 64, 65, 1000}, set(range(0, 3000, 7))):
        assert mask_ids(id_mask(ids)) == ids


_HTTP_PIECES = [
    b"GET",
    b"POST /x?a=b HTTP/1.0",
    b"M-SEARCH",
    b"A" * 33,
    b"/",
    b"HTTP/1.1",
    b"HTTP/1.1.1.1.1.1",
    b"http/1.1",
    b"Host",
    b"X-Y",
    b"  v ",
    b" ",
    b"\t",
    b"\x0b",
    b"\x0c",
    b":",
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n\n",
    b"\r\r\n",
    b"\n ",
    b"\x00",
    b"\xff",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_HTTP_PIECES), st.binary(max_size=6)), max_size=40).map(b"".join))
def test_native_splitting_is_httpsplits(data: bytes) -> None:
    assert nativesplit.split_request_line(data) == httpsplit.split_request_line(data)
    assert nativesplit.split_http(data) == httpsplit.split_http(data)
    line = httpsplit.split_request_line(data)
    assert nativesplit.split_http(data, line) == httpsplit.split_http(data, line)
    request = b"GET / HTTP/1.1\r\n" + data
    assert nativesplit.split_http(request) == httpsplit.split_http(request)


def test_native_splitting_is_in_use_and_keeps_the_header_limit() -> None:
    assert (hsnative.split_request_line is not None) == NATIVE_AVAILABLE
    assert (nativesplit.split_request_line is hsnative.split_request_line) == NATIVE_AVAILABLE
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(500)) + b"\r\nbody"
    parts = nativesplit.split_http(many)
    assert parts == httpsplit.split_http(many)
    assert parts is not None and len(parts.headers) == httpsplit.MAX_HEADERS
    if hsnative.split_header_lines is not None:
        with pytest.raises(TypeError):
            hsnative.split_header_lines("text", 3)  # type: ignore[arg-type]
    if hsnative.split_request_line is not None:
        with pytest.raises(TypeError):
            hsnative.split_request_line(bytearray(b"GET / HTTP/1.1"))  # type: ignore[arg-type]
