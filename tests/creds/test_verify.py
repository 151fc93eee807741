"""--verify against a real STS endpoint: moto in server mode on a loopback port, with IAM auth on,
so a key that exists answers with its ARN and a made-up one is refused."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from honeyguard.creds import Scanner
from honeyguard.creds.verify import verify_hits
from tests.conftest import free_port
from tests.creds.keys import account, key_id, secret
from tests.creds.motoserver import moto_server


@pytest.fixture
def sts() -> Iterator[dict[str, str]]:
    # IAM auth on: the admin key moto_server creates is known, every other key is refused
    with moto_server(auth=True) as moto:
        yield {"endpoint": moto.endpoint, "key_id": moto.admin_key, "secret": moto.admin_secret}


def _write(tmp_path: Path, sts: dict[str, str]) -> tuple[Path, str]:
    rng = random.Random(8)
    fake = key_id(rng, account(rng))
    target = tmp_path / "leak"
    target.mkdir()
    (target / "real.env").write_text(f"AWS_ACCESS_KEY_ID={sts['key_id']}\n"
                                     f"AWS_SECRET_ACCESS_KEY={sts['secret']}\n")
    (target / "fake.env").write_text(f"AWS_ACCESS_KEY_ID={fake}\nAWS_SECRET_ACCESS_KEY={secret(rng)}\n")
    (target / "alone.txt").write_text(f"id {key_id(rng, account(rng))}\n")
    return target, fake


def test_verify_valid_invalid_and_skipped(tmp_path: Path, sts: dict[str, str]) -> None:
    target, fake = _write(tmp_path, sts)
    result = Scanner().scan_paths([str(target)])
    verify_hits(result.hits, endpoint_url=sts["endpoint"])
    status = {h.finding.key_id: h.finding.verification for h in result.hits}
    real = status[sts["key_id"]]
    assert real is not None and real.status == "valid"
    assert real.arn == "arn:aws:iam::123456789012:user/honeyguard-admin" and real.account == "123456789012"
    assert status[fake] is not None and status[fake].status == "invalid"
    assert sorted(v.status for v in status.values() if v is not None) == ["invalid", "skipped", "valid"]
    (alone,) = [h for h in result.hits if h.finding.file.endswith("alone.txt")]
    assert alone.finding.verification is not None and alone.finding.verification.detail == "no secret paired"


def test_decoded_account_matches_sts(tmp_path: Path, sts: dict[str, str]) -> None:
    target, _ = _write(tmp_path, sts)
    (hit,) = [h for h in Scanner().scan_paths([str(target / "real.env")]).hits]
    verify_hits([hit], endpoint_url=sts["endpoint"])
    assert hit.finding.verification is not None
    assert hit.finding.account_id == hit.finding.verification.account == "123456789012"


def test_cli_verify_uses_endpoint_from_environment(tmp_path: Path, sts: dict[str, str]) -> None:
    target, fake = _write(tmp_path, sts)
    env = {**os.environ, "AWS_ENDPOINT_URL_STS": sts["endpoint"]}
    done = subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "scan", str(target),
                           "--verify", "-f", "json"], capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    findings = {f["key_id"]: f for f in json.loads(done.stdout)["findings"]}
    assert findings[sts["key_id"]]["verification"]["status"] == "valid"
    assert findings[fake]["verification"]["status"] == "invalid"
    assert sts["secret"].encode() not in done.stdout


def test_canaries_and_examples_are_never_sent(tmp_path: Path) -> None:
    """A canary key used even once trips its alarm: verify must not call STS for it. The endpoint is
    a closed port, so any attempt would show as an error instead of skipped."""
    rng = random.Random(12)
    canary = key_id(rng, "052310077262")
    (tmp_path / "c.env").write_text(f"AWS_ACCESS_KEY_ID={canary}\nAWS_SECRET_ACCESS_KEY={secret(rng)}\n"
                                    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
                                    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    from honeyguard.creds import ScanOptions

    hits = Scanner(ScanOptions(include_examples=True)).scan_paths([str(tmp_path)]).hits
    verify_hits(hits, endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    assert sorted((h.finding.verdict, h.finding.verification.status) for h in hits
                  if h.finding.verification) == [("canary", "skipped"), ("example", "skipped")]


def test_cli_verify_uses_endpoint_from_settings(tmp_path: Path, sts: dict[str, str]) -> None:
    target, _ = _write(tmp_path, sts)
    config = tmp_path / "honeyguard.yaml"
    config.write_text(f"creds:\n  sts_endpoint_url: {sts['endpoint']}\n")
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL_STS"}
    done = subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "scan", str(target / "real.env"),
                           "--verify", "-f", "json", "--config", str(config)],
                          capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    (finding,) = json.loads(done.stdout)["findings"]
    assert finding["verification"]["arn"] == "arn:aws:iam::123456789012:user/honeyguard-admin"
