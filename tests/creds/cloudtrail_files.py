"""CloudTrail log files as AWS delivers them to S3, written by the tests."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any


def record(key: str, ip: str, name: str, at: datetime, *, source: str = "sts.amazonaws.com",
           agent: str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0", error: str | None = None,
           account: str = "418295730164") -> dict[str, Any]:
    out: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAWCZC6J72AAAAAAAAA",
                         "arn": f"arn:aws:iam::{account}:user/backup", "accountId": account,
                         "accessKeyId": key, "userName": "backup"},
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": None, "responseElements": None,
        "requestID": "2b1c0c5e-7b1f-4c2a-9d1e-0a1b2c3d4e5f", "eventID": "7d9e6a43-1f0c-4b8e-8a51-0c1d2e3f4a5b",
        "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": account, "eventCategory": "Management",
    }
    if error:
        out["errorCode"], out["errorMessage"] = error, "User is not authorized to perform this operation"
    return out


def write(folder: Path, name: str, records: list[dict[str, Any]], account: str = "418295730164") -> Path:
    target = folder / "AWSLogs" / account / "CloudTrail" / "us-east-1" / "2026" / "03" / "01"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{account}_CloudTrail_us-east-1_{name}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path
