"""The command line: formats, stdin, exit statuses, one-line errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from tests.creds.corpus import build
from tests.creds.keys import account, key_id, secret


def _run(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "creds", "scan", *args],
                          input=stdin, capture_output=True, timeout=120, cwd=cwd, check=False)


def test_stdin_json(tmp_path: Path) -> None:
    rng = random.Random(4)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    done = _run("-", "--format", "json", stdin=f"key={kid}\nsecret={sec}\n".encode())
    assert done.returncode == 1, done.stderr
    (finding,) = json.loads(done.stdout)["findings"]
    assert finding["file"] == "<stdin>" and finding["key_id"] == kid and finding["secret_paired"]
    assert sec.encode() not in done.stdout and sec.encode() not in done.stderr


def test_clean_tree_exits_zero_and_text_table(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here AKIAIOSFODNN7EXAMPLE\n")
    done = _run(str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert b"no findings" in done.stdout


def test_text_table_masks_and_never_prints_secrets(tmp_path: Path) -> None:
    corpus = build(tmp_path)
    done = _run(str(tmp_path), "--format", "text")
    assert done.returncode == 1
    secrets = [line.split("=", 1)[1] for line in (tmp_path / "app/.env").read_text().splitlines()
               if line.startswith("AWS_SECRET")]
    assert secrets and secrets[0].encode() not in done.stdout
    assert all(p.key_id.encode() not in done.stdout for p in corpus.planted)
    assert b"AWS credential findings" in done.stdout


def test_missing_path_is_one_line_exit_2(tmp_path: Path) -> None:
    done = _run(str(tmp_path / "nope"))
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "Traceback" not in done.stderr.decode()


def test_bad_baseline_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "baseline.json").write_text("{not json")
    done = _run(str(tmp_path), "--baseline", str(tmp_path / "baseline.json"))
    assert done.returncode == 2
    assert len(done.stderr.decode().strip().splitlines()) == 1


def test_write_then_use_baseline_and_sarif(tmp_path: Path) -> None:
    build(tmp_path / "src")
    first = _run(str(tmp_path / "src"), "--write-baseline", str(tmp_path / "b.json"), "-f", "json")
    assert first.returncode == 1 and json.loads(first.stdout)["findings"]
    second = _run(str(tmp_path / "src"), "--baseline", str(tmp_path / "b.json"), "-f", "sarif")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["runs"][0]["results"] == []


def test_git_flag_on_cli(tmp_path: Path) -> None:
    from tests.creds.test_git import _repo

    repo, facts = _repo(tmp_path)
    done = _run(str(repo), "--git", "-f", "json")
    assert done.returncode == 1
    commits = {f["key_id"]: f["commit"] for f in json.loads(done.stdout)["findings"]}
    assert commits[facts["kid"]] == facts["added"]


def test_no_path_is_one_line_exit_2() -> None:
    done = _run()
    assert done.returncode == 2
    assert len(done.stderr.decode().strip().splitlines()) == 1
