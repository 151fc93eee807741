"""moto in server mode, in its own process on a free loopback port, with IAM authorisation on.

Its own process because moto's auth switch (INITIAL_NO_AUTH_ACTION_COUNT) and its backends are
process globals: a ThreadedMotoServer in the test process would share them with every other test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from tests.conftest import free_port

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
SETUP_CALLS = 3  # create the admin user, its allow-all policy and its key; then auth is enforced


@dataclass
class Moto:
    endpoint: str
    admin_key: str
    admin_secret: str

    def client(self, service: str, key: str | None = None, secret: str | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key or self.admin_key,
                            aws_secret_access_key=secret or self.admin_secret)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {process.stderr.read() if process.stderr else ''!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling for the port to open, not synchronising on time
    raise TimeoutError("moto server did not start")


@contextmanager
def moto_server(auth: bool = True) -> Iterator[Moto]:
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="AKIAQYLPMN5HHHFPZAM2", aws_secret_access_key="setup")
        iam.create_user(UserName="honeyguard-admin")
        iam.put_user_policy(UserName="honeyguard-admin", PolicyName="all", PolicyDocument=ALLOW_ALL)
        created = iam.create_access_key(UserName="honeyguard-admin")["AccessKey"]
        yield Moto(endpoint=endpoint, admin_key=created["AccessKeyId"], admin_secret=created["SecretAccessKey"])
    finally:
        process.terminate()
        process.wait(timeout=30)
