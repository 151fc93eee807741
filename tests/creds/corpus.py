"""A scan corpus written by the tests: planted keys in realistic places, and traps of every kind.

``build(root)`` writes the files and returns what a correct scanner must report: for each planted
key, the file (as the scanner labels it), the verdict and whether its secret must be paired.
Nothing else may be reported.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests.creds.keys import account, key_id, secret, session_token

CANARY_ACCOUNT = "052310077262"  # canarytokens.org


@dataclass(frozen=True)
class Planted:
    file: str  # relative to the corpus root, archive members as outer!inner
    key_id: str
    verdict: str = "exposed"
    paired: bool = True
    session_token: bool = False


class Corpus:
    def __init__(self, root: Path, seed: int = 1234) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.planted: list[Planted] = []

    def pair(self, prefix: str = "AKIA", acct: str | None = None) -> tuple[str, str]:
        return key_id(self.rng, acct or account(self.rng), prefix), secret(self.rng)

    def write(self, name: str, text: str | bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)

    def plant(self, file: str, kid: str, **kw: object) -> None:
        self.planted.append(Planted(file=file, key_id=kid, **kw))  # type: ignore[arg-type]


def build(root: Path) -> Corpus:
    c = Corpus(root)
    _plain_files(c)
    _notebook(c)
    _archives(c)
    _traps(c)
    return c


def _plain_files(c: Corpus) -> None:
    k, s = c.pair()
    c.write("app/.env", f"DEBUG=false\nAWS_ACCESS_KEY_ID={k}\nAWS_SECRET_ACCESS_KEY={s}\nREGION=eu-west-1\n")
    c.plant("app/.env", k)
    k, s = c.pair()
    c.write("app/upload.py", "import boto3\n\n\ndef client():\n"
            f'    return boto3.client("s3", aws_access_key_id="{k}", aws_secret_access_key="{s}")\n')
    c.plant("app/upload.py", k)
    k, s = c.pair()
    c.write("web/config.js", "export const aws = {\n  region: 'us-east-1',\n"
            f"  accessKeyId: '{k}',\n  // rotated monthly\n  secretAccessKey: '{s}',\n}};\n")
    c.plant("web/config.js", k)
    k, s = c.pair()
    c.write("settings.json", json.dumps({"name": "svc", "aws": {"AccessKeyId": k, "SecretAccessKey": s,
                                                                "Bucket": "assets"}}))
    c.plant("settings.json", k)
    k, s = c.pair()
    c.write("deploy/values.yaml", f"image: app:1.2\nstorage:\n  s3:\n    aws_access_key_id: {k}\n"
            f"    aws_secret_access_key: '{s}'\n")
    c.plant("deploy/values.yaml", k)
    k, s = c.pair()
    c.write("conf/app.ini", f"[general]\nname = svc\n\n[aws]\naccess_key = {k}\nsecret_key = {s}\n")
    c.plant("conf/app.ini", k)
    k1, s1 = c.pair()
    k2 = c.pair()[0]
    c.write("home/.aws/credentials", f"[default]\naws_access_key_id = {k1}\naws_secret_access_key = {s1}\n"
            f"\n[readonly]\naws_access_key_id = {k2}\nregion = us-east-1\n")
    c.plant("home/.aws/credentials", k1)
    c.plant("home/.aws/credentials", k2, paired=False)  # its profile has no secret: not the other's
    k, s = c.pair()
    c.write("infra/main.tf", f'provider "aws" {{\n  region     = "us-east-1"\n  access_key = "{k}"\n'
            f'  secret_key = "{s}"\n}}\n')
    c.plant("infra/main.tf", k)
    k, s = c.pair()
    c.write("Dockerfile", f"FROM python:3.12\nENV AWS_ACCESS_KEY_ID={k} \\\n    AWS_SECRET_ACCESS_KEY={s}\n"
            "CMD [\"python\", \"app.py\"]\n")
    c.plant("Dockerfile", k)
    k, s = c.pair()
    c.write("home/.bash_history", f"ls -la\nexport AWS_ACCESS_KEY_ID={k}\naws s3 ls\n"
            f"export AWS_SECRET_ACCESS_KEY={s}\naws s3 cp backup.sql s3://prod-backups/\n")
    c.plant("home/.bash_history", k)
    k, s = c.pair()
    query = f"AWSAccessKeyId={k}&Expires=1700000000&x-secret={quote(s, safe='')}"
    c.write("logs/access.log", f'10.0.0.1 - - [01/Jan/2026] "GET /upload?{query} HTTP/1.1" 200 512\n')
    c.plant("logs/access.log", k)
    k, s = c.pair("ASIA")
    c.write("ci/session.sh", f"export AWS_ACCESS_KEY_ID={k}\nexport AWS_SECRET_ACCESS_KEY={s}\n"
            f"export AWS_SESSION_TOKEN={session_token(c.rng)}\n")
    c.plant("ci/session.sh", k, session_token=True)
    k = c.pair()[0]
    c.write("docs/ops.md", f"# Operations\n\nThe deploy user is `{k}` (secret in the vault).\n")
    c.plant("docs/ops.md", k, paired=False)
    k, s = c.pair(acct=CANARY_ACCOUNT)
    c.write("backup/old_keys.txt", f"aws_access_key_id={k}\naws_secret_access_key={s}\n")
    c.plant("backup/old_keys.txt", k, verdict="canary")
    k = c.pair()[0]
    sha = "".join(c.rng.choice("0123456789abcdef") for _ in range(40))
    c.write("release.txt", f"access key: {k}\ncommit: {sha}\n")
    c.plant("release.txt", k, paired=False)  # a git SHA is never taken for the secret


def _notebook(c: Corpus) -> None:
    k1, s1 = c.pair()
    k2 = c.pair()[0]
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Load data\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
         "source": ["import boto3\n", "session = boto3.Session(\n", f"    aws_access_key_id='{k1}',\n",
                    f"    aws_secret_access_key='{s1}')\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": ["print(session.get_credentials())"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["ok\n", f"key {k2}\n"]}]},
    ]
    c.write("notebooks/analysis.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                    "nbformat_minor": 5}, indent=1))
    c.plant("notebooks/analysis.ipynb", k1)
    c.plant("notebooks/analysis.ipynb", k2, paired=False)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _targz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _archives(c: Corpus) -> None:
    k, s = c.pair()
    c.write("dist/backup.zip", _zip({"README": b"backup", "config/.env":
                                     f"AWS_ACCESS_KEY_ID={k}\nAWS_SECRET_ACCESS_KEY={s}\n".encode()}))
    c.plant("dist/backup.zip!config/.env", k)
    k, s = c.pair()
    php = f"<?php\ndefine('AWS_KEY', '{k}');\ndefine('AWS_SECRET', '{s}');\n"
    c.write("dist/site.tar.gz", _targz({"www/wp-config.php": php.encode()}))
    c.plant("dist/site.tar.gz!www/wp-config.php", k)
    k, s = c.pair()
    inner = _targz({"keys.txt": f"{k}:{s}\n".encode()})
    c.write("dist/release.zip", _zip({"inner.tar.gz": inner}))
    c.plant("dist/release.zip!inner.tar.gz!keys.txt", k)
    k, s = c.pair()
    c.write("dist/dump.sql.gz", gzip.compress(f"INSERT INTO keys VALUES ('{k}', '{s}');\n".encode()))
    c.plant("dist/dump.sql.gz!dump.sql", k)


def _traps(c: Corpus) -> None:
    """Everything here looks like a key to a careless scanner; none of it may be reported."""
    c.write("traps/docs_example.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            "AKIAI44QH8DHBEXAMPLE je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n")
    c.write("traps/placeholders.env", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\n"
            "AWS_ACCESS_KEY_ID=your-key-here\nAWS_ACCESS_KEY_ID=<AWS_ACCESS_KEY>\n"
            "AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID}\nAWS_ACCESS_KEY_ID=AKIAAAAAAAAAAAAAAAAA\n"
            "AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\nAWS_ACCESS_KEY_ID=AKIAYOURACCESSKEYID2\n"
            "AWS_SECRET_ACCESS_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
    shas = "\n".join("".join(c.rng.choice("0123456789abcdef") for _ in range(40)) for _ in range(20))
    c.write("traps/git-shas.txt", f"{shas}\nsecret = {'a1b2c3d4e5' * 4}\n")
    blobs = "\n".join(f"secret_{i} = {secret(c.rng)}" for i in range(20))  # no key id anywhere near
    c.write("traps/base64.cfg", blobs + "\n")
    c.write("traps/alphabet.txt", "AKIA1234567890ABCDEF\nAKIA0OQ8ZZ9ZZZZZZZZ1\nakiaqylpmn5hhhfpzam2\n"
            f"XAKIA{key_id(c.rng, account(c.rng))[4:]}\n{key_id(c.rng, account(c.rng))}Q7\n"
            "AKIAQYLPMN5HHHFPZAM\n")
    c.write("traps/resource-ids.json", json.dumps({
        "UserId": key_id(c.rng, account(c.rng), "AIDA") + "Q", "RoleId": key_id(c.rng, account(c.rng), "AROA") + "A",
        "PolicyId": key_id(c.rng, account(c.rng), "ANPA") + "Z"}))
    k, s = c.pair()
    c.write("traps/binary.bin", b"\x7fELF\x00\x00\x01" + f"{k} {s}".encode() + b"\x00" * 64)
