"""`creds scan --quarantine --notify`: a leaked key is quarantined on moto and its owner mailed once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.creds.mailbox import Inbox
from tests.creds.motoserver import ALLOW_ALL, Moto, moto_server


@pytest.fixture
def moto() -> Iterator[Moto]:
    with moto_server(auth=True) as server:
        yield server


def _scan(target: Path, config: Path, moto: Moto) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(target.parent), "AWS_ACCESS_KEY_ID": moto.admin_key,
           "AWS_SECRET_ACCESS_KEY": moto.admin_secret}
    return subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "scan", str(target),
                           "--quarantine", "--notify", "--format", "json", "--config", str(config)],
                          capture_output=True, text=True, timeout=180, env=env, check=False)


def test_scan_quarantines_and_notifies_once(tmp_path: Path, moto: Moto, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    iam = moto.client("iam")
    iam.create_user(UserName="billing")
    iam.put_user_policy(UserName="billing", PolicyName="all", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName="billing")["AccessKey"]
    target = tmp_path / "site"
    target.mkdir()
    (target / ".env").write_text(f"AWS_ACCESS_KEY_ID={key['AccessKeyId']}\n"
                                 f"AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n")
    config = tmp_path / "hg.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ncreds:\n  iam_endpoint_url: {moto.endpoint}\n"
                      f"  notify:\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n"
                      "    mail_to: [owner@example.test]\n")
    done = _scan(target, config, moto)
    assert done.returncode == 1, done.stderr  # exposed: the scan still fails the build
    assert f"quarantine {key['AccessKeyId']}: attached (billing)" in done.stderr
    assert "sent via email" in done.stderr
    (mail,) = inbox.messages
    body = mail.get_content()
    assert "Attached the deny policy HoneyguardQuarantine to IAM user billing" in body
    assert key["SecretAccessKey"] not in body
    leaked = moto.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(leaked.exceptions.ClientError):
        leaked.create_user(UserName="persistence")

    again = _scan(target, config, moto)
    assert "already-attached" in again.stderr and "already notified" in again.stderr
    assert len(inbox.messages) == 1

    # the owner rotates, records it, and the application writes the new key to the same place
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    rotated = subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "rotated", key["AccessKeyId"],
                              "--config", str(config)], capture_output=True, text=True, timeout=120, env=env,
                             check=False)
    assert rotated.returncode == 0 and "marked rotated at 1 source" in rotated.stdout, rotated.stderr
    iam.delete_access_key(UserName="billing", AccessKeyId=key["AccessKeyId"])
    fresh = iam.create_access_key(UserName="billing")["AccessKey"]
    (target / ".env").write_text(f"AWS_ACCESS_KEY_ID={fresh['AccessKeyId']}\n"
                                 f"AWS_SECRET_ACCESS_KEY={fresh['SecretAccessKey']}\n")
    third = _scan(target, config, moto)
    assert "RE-LEAK" in third.stderr
    # the policy is on the user, not the key: still there, since nobody released it
    assert f"quarantine {fresh['AccessKeyId']}: already-attached (billing)" in third.stderr
    body = inbox.messages[-1].get_content()
    assert len(inbox.messages) == 2 and "THE APPLICATION ITSELF IS STILL LEAKING ITS SECRETS" in body
    assert "(marked rotated)" in body
