"""Quarantine against moto in server mode with IAM authorisation enforced: the attached policy is
checked by making real calls with the quarantined key (not by reading the policy back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from honeyguard.clock import FakeClock
from honeyguard.creds.quarantine import (
    AutoPolicy,
    QuarantineError,
    Quarantiner,
    load_policy,
    quarantine_exposed,
    quarantine_if_attacker,
)
from honeyguard.store.creds import CredsStore
from honeyguard.store.state import StateStore
from tests.conftest import free_port
from tests.creds.cloudtrail_files import record, write
from tests.creds.motoserver import ALLOW_ALL, Moto, moto_server


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_server(auth=True) as server:
        yield server


@pytest.fixture
def app_key(moto: Moto, request: pytest.FixtureRequest) -> dict[str, str]:
    """An application user with full rights and one key: what leaks in real life."""
    iam = moto.client("iam")
    name = f"app-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="app-all", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    moto.client("s3").create_bucket(Bucket=f"{name.lower()}-data"[:63])
    return {"user": name, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"],
            "bucket": f"{name.lower()}-data"[:63]}


def _denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def _store(tmp_path: Path) -> CredsStore:
    return CredsStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}"))


def test_attach_denies_calls_then_release_restores(moto: Moto, app_key: dict[str, str], tmp_path: Path) -> None:
    store = _store(tmp_path)
    leaked_iam = moto.client("iam", app_key["key"], app_key["secret"])
    leaked_s3 = moto.client("s3", app_key["key"], app_key["secret"])
    leaked_iam.create_user(UserName=f"{app_key['user']}-before")  # the key can do it before quarantine

    quarantiner = Quarantiner(moto.client("iam"), store=store, clock=FakeClock())
    result = quarantiner.quarantine(app_key["key"], reason="exposed in .env")
    assert (result.status, result.user_name) == ("attached", app_key["user"])
    record = store.quarantine(app_key["key"])
    assert record is not None and record.user_name == app_key["user"] and record.released_at is None

    assert _denied(leaked_iam.create_user, UserName=f"{app_key['user']}-after") == "AccessDenied"
    assert _denied(leaked_iam.create_access_key, UserName=app_key["user"]) == "AccessDenied"
    assert _denied(leaked_s3.delete_bucket, Bucket=app_key["bucket"]) == "AccessDenied"
    # what is not on the list still works: the application keeps running until rotation
    identity = moto.client("sts", app_key["key"], app_key["secret"]).get_caller_identity()
    assert identity["Arn"].endswith(f"user/{app_key['user']}")

    again = quarantiner.quarantine(app_key["key"])
    assert again.status == "already-attached"
    names = moto.client("iam").list_user_policies(UserName=app_key["user"])["PolicyNames"]
    assert sorted(names) == ["HoneyguardQuarantine", "app-all"]

    released = quarantiner.release(app_key["key"])
    assert released.status == "released"
    leaked_iam.create_user(UserName=f"{app_key['user']}-released")
    moto.client("s3", app_key["key"], app_key["secret"]).delete_bucket(Bucket=app_key["bucket"])
    record = store.quarantine(app_key["key"])
    assert record is not None and record.released_at is not None
    assert quarantiner.release(app_key["key"]).status == "not-attached"


def test_policy_document_holds_the_aws_quarantine_actions() -> None:
    policy = load_policy()
    actions = set(policy.actions)
    for needed in ("iam:CreateUser", "iam:CreateAccessKey", "iam:PutUserPolicy", "ec2:RunInstances",
                   "lambda:CreateFunction", "s3:DeleteBucket", "s3:GetObject", "s3:PutBucketPolicy",
                   "s3:PutLifecycleConfiguration", "s3:PutBucketAcl", "organizations:CreateAccount",
                   "bedrock:InvokeModel", "sagemaker:CreateProcessingJob"):
        assert needed in actions, needed
    statement = policy.document()["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Resource"] == "*"


def test_unknown_key_is_a_clear_error(moto: Moto) -> None:
    quarantiner = Quarantiner(moto.client("iam"))
    with pytest.raises(QuarantineError, match=r"unknown key AKIA\w+: no IAM user in this account has it"):
        quarantiner.quarantine("AKIAWCZC6J72CGI3OWCK")
    with pytest.raises(QuarantineError, match="not an AWS access key id"):
        quarantiner.quarantine("hello")


def test_missing_permission_is_a_clear_error(moto: Moto, app_key: dict[str, str]) -> None:
    iam = moto.client("iam")
    iam.create_user(UserName="auditor")
    weak = iam.create_access_key(UserName="auditor")["AccessKey"]
    quarantiner = Quarantiner(moto.client("iam", weak["AccessKeyId"], weak["SecretAccessKey"]))
    with pytest.raises(QuarantineError, match=r"missing permission iam:\w+ to quarantine"):
        quarantiner.quarantine(app_key["key"])


def test_auto_quarantine_of_scan_findings(moto: Moto, app_key: dict[str, str], tmp_path: Path) -> None:
    from honeyguard.creds import Scanner

    (tmp_path / "app.env").write_text(f"AWS_ACCESS_KEY_ID={app_key['key']}\n"
                                      f"AWS_SECRET_ACCESS_KEY={app_key['secret']}\n")
    (tmp_path / "alone.txt").write_text("id AKIAWCZC6J72CGI3OWCK\n")  # no secret: never quarantined
    findings = [h.finding for h in Scanner().scan_paths([str(tmp_path)]).hits]
    outcomes = quarantine_exposed(findings, Quarantiner(moto.client("iam")), AutoPolicy())
    assert [(o.key_id, o.result.status if o.result else o.error) for o in outcomes] == [
        (app_key["key"], "attached")]
    assert quarantine_exposed(findings, Quarantiner(moto.client("iam")), AutoPolicy(on_exposed=False)) == []


def test_auto_quarantine_of_a_key_used_by_a_known_attacker(moto: Moto, app_key: dict[str, str]) -> None:
    quarantiner = Quarantiner(moto.client("iam"))
    confidence = {"192.0.2.10": 85, "192.0.2.11": 30}
    assert quarantine_if_attacker(app_key["key"], ["192.0.2.11", "10.0.0.5"], confidence, quarantiner) is None
    assert quarantine_if_attacker(app_key["key"], ["192.0.2.10"], confidence, quarantiner,
                                  AutoPolicy(on_attacker_use=False)) is None
    outcome = quarantine_if_attacker(app_key["key"], ["192.0.2.11", "192.0.2.10"], confidence, quarantiner)
    assert outcome is not None and outcome.result is not None and outcome.result.status == "attached"
    names = moto.client("iam").list_user_policies(UserName=app_key["user"])["PolicyNames"]
    assert "HoneyguardQuarantine" in names


def _cli(moto: Moto, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "hg.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ncreds:\n  iam_endpoint_url: {moto.endpoint}\n")
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": moto.admin_key,
           "AWS_SECRET_ACCESS_KEY": moto.admin_secret, "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "quarantine", *args,
                           "--config", str(config)], capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def test_cli_quarantine_release_and_errors(moto: Moto, app_key: dict[str, str], tmp_path: Path) -> None:
    done = _cli(moto, app_key["key"], tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "attached" in done.stdout and app_key["user"] in done.stdout
    assert "already" in _cli(moto, app_key["key"], tmp_path=tmp_path).stdout
    done = _cli(moto, app_key["key"], "--release", tmp_path=tmp_path)
    assert done.returncode == 0 and "released" in done.stdout, done.stderr
    done = _cli(moto, "AKIAWCZC6J72CGI3OWCK", tmp_path=tmp_path)
    assert done.returncode == 2 and "unknown key" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cloudtrail_ingest_quarantines_keys_used_by_attackers(moto: Moto, app_key: dict[str, str],
                                                              tmp_path: Path) -> None:
    """A customer key that signed calls from an address held as an attacker is quarantined on
    ingest (per policy); a key used only from an ordinary address is left alone."""
    iam = moto.client("iam")
    iam.create_user(UserName="bystander")
    bystander = iam.create_access_key(UserName="bystander")["AccessKey"]["AccessKeyId"]
    config = tmp_path / "honeyguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nserver:\n  port: {free_port()}\n"
                      f"creds:\n  iam_endpoint_url: {moto.endpoint}\n")
    feed = tmp_path / "attackers.csv"
    feed.write_text("value,type,role,confidence\n198.51.100.77,ip,exploiter,95\n")
    at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    write(tmp_path / "logs", "a", [record(app_key["key"], "198.51.100.77", "ListBuckets", at),
                                   record(bystander, "192.0.2.10", "ListBuckets", at)])
    env = {**os.environ, "AWS_ACCESS_KEY_ID": moto.admin_key, "AWS_SECRET_ACCESS_KEY": moto.admin_secret}
    cli = [sys.executable, "-m", "honeyguard.cli.main"]
    imported = subprocess.run([*cli, "intel", "import", str(feed), "--config", str(config)],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    assert imported.returncode == 0, imported.stderr
    done = subprocess.run([*cli, "cloudtrail", "ingest", str(tmp_path / "logs"), "--quarantine", "-f", "json",
                           "--config", str(config)], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout)["quarantine"]
    assert [(o["key_id"], o["result"]["status"], o["result"]["user_name"]) for o in outcomes] == [
        (app_key["key"], "attached", app_key["user"])]
    recorded = _store(tmp_path / "data").quarantine(app_key["key"])
    assert recorded is not None and "used from known attacker address 198.51.100.77" in recorded.reason
    leaked_iam = moto.client("iam", app_key["key"], app_key["secret"])
    assert _denied(leaked_iam.create_user, UserName="backdoor") == "AccessDenied"
    assert iam.list_user_policies(UserName="bystander")["PolicyNames"] == []
