"""Quarantine an exposed access key: attach an inline deny policy to the key's IAM user.

The denied actions are those of AWS's own compromised-key quarantine policy (kept as data in
content/creds/quarantine-policy.json, with its source): creating users, roles, keys and policies,
launching compute, deleting and reading S3 data, Organizations, Bedrock and SageMaker jobs... The
key keeps working for everything else, so the application does not go down before the owner has
rotated it. An inline policy (not a managed one) because it needs no extra object in the account,
and removing it (``--release``) restores exactly what was there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

from honeyguard.clock import Clock, SystemClock
from honeyguard.creds import keyid
from honeyguard.creds.cloudtrail import KeyUse
from honeyguard.errors import HoneyguardError
from honeyguard.store.creds import CredsStore, QuarantineRecord


class QuarantineError(HoneyguardError):
    """The key cannot be quarantined or released (unknown key, missing permission, AWS error)."""


class QuarantinePolicy(msgspec.Struct, frozen=True, kw_only=True):
    policy_name: str
    actions: list[str]

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17",
                "Statement": [{"Sid": "HoneyguardCompromisedKeyQuarantine", "Effect": "Deny",
                               "Action": sorted(self.actions), "Resource": "*"}]}


class QuarantineResult(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    user_name: str
    policy_name: str
    status: Literal["attached", "already-attached", "released", "not-attached"]


def load_policy(path: Path | None = None) -> QuarantinePolicy:
    try:
        text = path.read_bytes() if path else (resources.files("honeyguard") / "content" / "creds"
                                               / "quarantine-policy.json").read_bytes()
        return msgspec.json.decode(text, type=QuarantinePolicy)
    except (OSError, msgspec.DecodeError) as exc:
        raise QuarantineError(f"{path or 'quarantine-policy.json'}: {exc}") from None


def iam_client(endpoint_url: str | None = None, region: str = "us-east-1") -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=10, read_timeout=20, retries={"max_attempts": 2})
    return boto3.client("iam", endpoint_url=endpoint_url, region_name=region, config=config)


def _error(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code", exc.__class__.__name__)), str(error.get("Message", exc))


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_BAD_CREDENTIALS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"}


def _explain(exc: Exception, action: str, key_id: str) -> QuarantineError:
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return QuarantineError("no AWS credentials to act with (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    if isinstance(exc, BotoCoreError):
        return QuarantineError(f"cannot reach IAM for {action}: {exc}")
    code, message = _error(exc)
    if code in _DENIED:
        return QuarantineError(f"missing permission {action} to quarantine {key_id}: {code}")
    if code in _BAD_CREDENTIALS:
        return QuarantineError(f"the credentials honeyguard acts with were refused by IAM: {code}")
    return QuarantineError(f"{action} failed for {key_id}: {code}: {message[:200]}")


class Quarantiner:
    def __init__(self, iam: Any, *, store: CredsStore | None = None, policy: QuarantinePolicy | None = None,
                 clock: Clock | None = None) -> None:
        self.iam = iam
        self.store = store
        self.policy = policy or load_policy()
        self.clock = clock or SystemClock()

    def user_of(self, key_id: str) -> str:
        """The IAM user that owns ``key_id`` in the account we act in."""
        if not keyid.is_well_formed(key_id) or keyid.kind_of(key_id) != "access-key":
            raise QuarantineError(f"{key_id!r} is not an AWS access key id")
        if key_id.startswith("ASIA"):
            raise QuarantineError(f"{key_id} is a temporary (STS) key: it has no IAM user; "
                                  "revoke the role's sessions instead")
        try:
            user = self.iam.get_access_key_last_used(AccessKeyId=key_id).get("UserName")
        except Exception as exc:
            code, _ = _error(exc)
            if code not in ("NoSuchEntity", "NoSuchEntityException", *_DENIED):
                raise _explain(exc, "iam:GetAccessKeyLastUsed", key_id) from None
            user = None
        if user and self._owns(user, key_id):
            return str(user)
        return self._search(key_id)

    def _owns(self, user: str, key_id: str) -> bool:
        try:
            keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except Exception as exc:
            raise _explain(exc, "iam:ListAccessKeys", key_id) from None
        return any(k["AccessKeyId"] == key_id for k in keys)

    def _search(self, key_id: str) -> str:
        try:
            for page in self.iam.get_paginator("list_users").paginate():
                for user in page["Users"]:
                    if self._owns(user["UserName"], key_id):
                        return str(user["UserName"])
        except QuarantineError:
            raise
        except Exception as exc:
            raise _explain(exc, "iam:ListUsers", key_id) from None
        account = keyid.account_id(key_id)
        where = f" (it belongs to account {account})" if account else ""
        raise QuarantineError(f"unknown key {key_id}: no IAM user in this account has it{where}")

    def _attached(self, user: str) -> bool:
        try:
            names = self.iam.list_user_policies(UserName=user)["PolicyNames"]
        except Exception as exc:
            raise _explain(exc, "iam:ListUserPolicies", user) from None
        return self.policy.policy_name in names

    def quarantine(self, key_id: str, reason: str = "exposed") -> QuarantineResult:
        """Attach the deny policy (idempotent: a second call changes nothing and says so)."""
        user = self.user_of(key_id)
        status: Literal["attached", "already-attached"] = "already-attached"
        if not self._attached(user):
            try:
                self.iam.put_user_policy(UserName=user, PolicyName=self.policy.policy_name,
                                         PolicyDocument=json.dumps(self.policy.document()))
            except Exception as exc:
                raise _explain(exc, "iam:PutUserPolicy", key_id) from None
            status = "attached"
        if self.store is not None and (status == "attached" or self._unrecorded(key_id)):
            self.store.save_quarantine(QuarantineRecord(key_id=key_id, user_name=user,
                                                        policy_name=self.policy.policy_name,
                                                        reason=reason[:512], attached_at=self.clock.now()))
        return QuarantineResult(key_id=key_id, user_name=user, policy_name=self.policy.policy_name, status=status)

    def _unrecorded(self, key_id: str) -> bool:
        record = self.store.quarantine(key_id) if self.store is not None else None
        return record is None or record.released_at is not None

    def release(self, key_id: str) -> QuarantineResult:
        """Remove the deny policy (idempotent)."""
        user = self.user_of(key_id)
        status: Literal["released", "not-attached"] = "not-attached"
        if self._attached(user):
            try:
                self.iam.delete_user_policy(UserName=user, PolicyName=self.policy.policy_name)
            except Exception as exc:
                raise _explain(exc, "iam:DeleteUserPolicy", key_id) from None
            status = "released"
        if self.store is not None:
            record = self.store.quarantine(key_id)
            if record is not None and record.released_at is None:
                self.store.save_quarantine(msgspec.structs.replace(record, released_at=self.clock.now()))
        return QuarantineResult(key_id=key_id, user_name=user, policy_name=self.policy.policy_name, status=status)


# -- automatically, per policy ----------------------------------------------------------------------


class AutoPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When honeyguard quarantines on its own."""

    on_exposed: bool = True  # a live pair found by `creds scan`
    require_secret: bool = True  # an id alone cannot sign anything: no quarantine for it
    on_attacker_use: bool = True  # a key used from an address we hold as threat infrastructure
    min_attacker_confidence: int = 60


class AutoOutcome(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    result: QuarantineResult | None = None
    error: str | None = None


def _try(quarantiner: Quarantiner, key_id: str, reason: str) -> AutoOutcome:
    try:
        return AutoOutcome(key_id=key_id, result=quarantiner.quarantine(key_id, reason))
    except QuarantineError as exc:
        return AutoOutcome(key_id=key_id, error=str(exc))


def quarantine_exposed(findings: Iterable[Any], quarantiner: Quarantiner,
                       policy: AutoPolicy = AutoPolicy()) -> list[AutoOutcome]:
    """For `creds scan --quarantine`: each exposed access key once (one failure does not stop the rest)."""
    if not policy.on_exposed:
        return []
    chosen: dict[str, str] = {}
    for f in findings:
        if f.verdict != "exposed" or f.kind != "access-key" or not f.key_id.startswith("AKIA"):
            continue
        if policy.require_secret and not f.secret_paired:
            continue
        chosen.setdefault(f.key_id, f"exposed in {f.file}:{f.line}" + (f" ({f.commit[:12]})" if f.commit else ""))
    return [_try(quarantiner, key, reason) for key, reason in chosen.items()]


def quarantine_if_attacker(key_id: str, source_ips: Iterable[str], confidence_of: dict[str, int],
                           quarantiner: Quarantiner, policy: AutoPolicy = AutoPolicy(),
                           at: datetime | None = None) -> AutoOutcome | None:
    """A customer key used from an address we know as an attacker's (``confidence_of``: ip -> the
    best confidence among its indicators): quarantine it. None when the policy says no."""
    if not policy.on_attacker_use:
        return None
    hits = sorted(ip for ip in source_ips if confidence_of.get(ip, 0) >= policy.min_attacker_confidence)
    if not hits:
        return None
    when = f" at {at.isoformat()}" if at else ""
    return _try(quarantiner, key_id, f"used from known attacker address {', '.join(hits[:5])}{when}")


def quarantine_attacker_uses(uses: Mapping[str, KeyUse], confidence_of: dict[str, int], quarantiner: Quarantiner,
                             policy: AutoPolicy = AutoPolicy()) -> list[AutoOutcome]:
    """For `cloudtrail ingest --quarantine`: each long-term customer key (AKIA) that signed calls
    from a known attacker address. Temporary keys (ASIA) belong to a role session and expire on
    their own; they are reported, not quarantined."""
    outcomes = []
    for key_id, use in sorted(uses.items()):
        if not key_id.startswith("AKIA"):
            continue
        outcome = quarantine_if_attacker(key_id, use.ips, confidence_of, quarantiner, policy, at=use.last)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
