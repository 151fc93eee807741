"""--verify: ask STS GetCallerIdentity whether a paired key works. Only ever on the user's request.

Canary keys are never tried (using one is exactly what trips its alarm), nor examples, nor ids
without a secret. The endpoint can be pointed elsewhere (settings or AWS_ENDPOINT_URL_STS), which is
how the tests run it against a local moto server.
"""

from __future__ import annotations

import os

from honeyguard.creds.finding import Hit, Verification

DEFAULT_REGION = "us-east-1"


def sts_endpoint(configured: str | None) -> str | None:
    return configured or os.environ.get("AWS_ENDPOINT_URL_STS") or None


def verify_hits(hits: list[Hit], *, endpoint_url: str | None, region: str = DEFAULT_REGION,
                timeout: float = 10.0) -> None:
    """Set ``finding.verification`` on each hit; one STS call per distinct key and secret."""
    cache: dict[tuple[str, str, str | None], Verification] = {}
    for hit in hits:
        finding = hit.finding
        if finding.verdict != "exposed" or finding.kind != "access-key":
            finding.verification = Verification(status="skipped", detail=f"verdict {finding.verdict}")
            continue
        if hit.secret is None:
            finding.verification = Verification(status="skipped", detail="no secret paired")
            continue
        key = (finding.key_id, hit.secret, hit.session_token)
        if key not in cache:
            cache[key] = _call_sts(finding.key_id, hit.secret, hit.session_token,
                                   endpoint_url=endpoint_url, region=region, timeout=timeout)
        finding.verification = cache[key]


def _call_sts(key_id: str, secret: str, token: str | None, *, endpoint_url: str | None, region: str,
              timeout: float) -> Verification:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "sts", aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
        region_name=region, endpoint_url=endpoint_url,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}))
    try:
        answer = client.get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
                    "UnrecognizedClientException", "InvalidAccessKeyId"):
            return Verification(status="invalid", detail=code)
        return Verification(status="error", detail=code)
    except BotoCoreError as exc:
        return Verification(status="error", detail=type(exc).__name__)
    return Verification(status="valid", arn=answer.get("Arn"), account=answer.get("Account"))
