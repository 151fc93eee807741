"""Every exporter: stable bytes, only what is in force, accepted by the real tool that reads it."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from honeyguard.export import exporter_registry, render
from honeyguard.model.decision import Decision
from tests.conftest import tool
from tests.export.conftest import NOW, decision

NOT_IN_FORCE = ("77.91.68.4", "77.91.68.5", "77.91.68.6")


@pytest.mark.parametrize("name", sorted(n for n, e in exporter_registry().items() if not hasattr(e, "write_files")))
def test_same_input_same_bytes_whatever_the_order(name: str, sample: list[Decision]) -> None:
    first = render(name, sample, NOW)
    again = render(name, list(reversed(sample)), NOW)
    assert first == again
    assert first.strip()
    for value in NOT_IN_FORCE:
        assert value not in first, f"{name} exported {value}, which is not in force"


def test_unknown_format_is_a_clear_error() -> None:
    from honeyguard.export import ExportError

    with pytest.raises(ExportError, match=r"unknown format 'pf'.*nftables"):
        render("pf", [], NOW)


def test_nftables_is_accepted_by_nft_and_carries_direction_and_context(sample: list[Decision],
                                                                      tmp_path: Path) -> None:
    text = render("nftables", sample, NOW)
    path = tmp_path / "hg.nft"
    path.write_text(text)
    result = subprocess.run([tool("nft"), "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    ingress = text.split("set ingress_v4")[1].split("}")[0]
    egress6 = text.split("set egress_v6")[1].split("}")[0]
    assert "45.142.120.7/32 timeout 86400s" in ingress and "91.92.240.10/32" in ingress
    assert "45.142.121.9" not in text  # covered by 45.142.121.0/24
    assert "2a01:4f8:c010::66/128" in egress6 and "conf=88" in egress6
    assert "77.91.68.3" not in text  # alerts are not enforced


def _netns(tmp_name: str) -> str:
    name = f"hgtest-{tmp_name}-{uuid.uuid4().hex[:6]}"
    subprocess.run([tool("ip"), "netns", "add", name], check=True)
    return name


def _in_netns(ns: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("ip"), "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True,
                          check=False)


def test_nftables_loads_for_real_in_a_namespace_and_reloads_atomically(sample: list[Decision]) -> None:
    ns = _netns("nft")
    try:
        first = _in_netns(ns, tool("nft"), "-f", "-", stdin=render("nftables", sample, NOW))
        assert first.returncode == 0, first.stderr
        again = _in_netns(ns, tool("nft"), "-f", "-", stdin=render("nftables", sample[:1], NOW))
        assert again.returncode == 0, again.stderr
        listing = _in_netns(ns, tool("nft"), "list", "set", "inet", "honeyguard", "ingress_v4").stdout
        assert "45.142.120.7" in listing and "91.92.240.10" not in listing
    finally:
        subprocess.run([tool("ip"), "netns", "del", ns], check=False)


def test_ipset_restore_accepts_the_file_and_swaps(sample: list[Decision]) -> None:
    ns = _netns("ipset")
    try:
        for decisions in (sample, sample[:1]):
            result = _in_netns(ns, tool("ipset"), "restore", "-exist", stdin=render("ipset", decisions, NOW))
            assert result.returncode == 0, result.stderr
        listing = _in_netns(ns, tool("ipset"), "list", "hg-ingress-v4").stdout
        assert "45.142.120.7" in listing and "91.92.240.10" not in listing
        assert "hg-ingress-v4-new" not in _in_netns(ns, tool("ipset"), "list", "-n").stdout
    finally:
        _in_netns(ns, tool("ipset"), "destroy")
        subprocess.run([tool("ip"), "netns", "del", ns], check=False)


def test_iptables_restore_accepts_the_rules(sample: list[Decision]) -> None:
    for name, binary in (("iptables", "iptables-restore"), ("ip6tables", "ip6tables-restore")):
        result = subprocess.run([tool(binary), "--test", "--noflush"], input=render(name, sample, NOW),
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_rpz_zone_passes_named_checkzone(sample: list[Decision], tmp_path: Path) -> None:
    text = render("rpz", sample, NOW)
    path = tmp_path / "hg.zone"
    path.write_text(text)
    result = subprocess.run([tool("named-checkzone"), "rpz.honeyguard", str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evil-c2.example CNAME ." in text and "*.evil-c2.example CNAME ." in text
    assert "bot7.duckdns.org CNAME ." in text and "*.bot7.duckdns.org" not in text  # exact only
    assert "32.10.240.92.91.rpz-ip CNAME ." in text
    assert "45.142.120.7" not in text and "7.120.142.45" not in text  # ingress-only addresses are not DNS's job


def test_route53_list_is_one_domain_a_line() -> None:
    text = render("route53-dns-firewall", [decision("evil-c2.example", type_="domain", direction="egress")], NOW)
    assert text.splitlines() == ["evil-c2.example", "*.evil-c2.example"]


def test_waf_ip_sets_split_per_family_and_at_ten_thousand() -> None:
    many = [decision(f"45.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(10_001)]
    many.append(decision("2a01:4f8::1"))
    doc = json.loads(render("aws-waf", many, NOW))
    sizes = [(s["IPAddressVersion"], len(s["Addresses"])) for s in doc["IPSets"]]
    assert sizes == [("IPV4", 10_000), ("IPV4", 1), ("IPV6", 1)]


def test_waf_ip_sets_validate_against_botocore_model(sample: list[Decision]) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("wafv2").operation_model("CreateIPSet").input_shape
    for ip_set in json.loads(render("aws-waf", sample, NOW))["IPSets"]:
        report = ParamValidator().validate(ip_set, model)
        assert not report.has_errors(), report.generate_report()
