"""--git on a real repository: a key committed then deleted is still found, in the commit that added it."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from honeyguard.creds import Scanner, ScanOptions
from tests.conftest import tool
from tests.creds.keys import account, key_id, secret


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo.parent)}
    done = subprocess.run([tool("git"), "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env, timeout=60)
    return done.stdout.strip()


def _repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    rng = random.Random(77)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# service\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "start")
    kid, sec = key_id(rng, account(rng)), secret(rng)
    (repo / "config").mkdir()
    (repo / "config" / "settings.py").write_text(f"DEBUG = True\nREGION = 'eu-west-1'\n"
                                                 f"AWS_KEY = '{kid}'\nAWS_SECRET = '{sec}'\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "add settings")
    added = _git(repo, "rev-parse", "HEAD")
    (repo / "config" / "settings.py").write_text("DEBUG = True\nREGION = 'eu-west-1'\n"
                                                 "AWS_KEY = os.environ['AWS_KEY']\n")
    _git(repo, "commit", "-q", "-am", "remove key")
    branch_kid = key_id(rng, account(rng))
    _git(repo, "checkout", "-q", "-b", "feature")
    (repo / "notes.txt").write_text(f"temp id {branch_kid}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "notes")
    branch_commit = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    return repo, {"kid": kid, "added": added, "branch_kid": branch_kid, "branch_commit": branch_commit}


def test_committed_then_deleted_key_is_found(tmp_path: Path) -> None:
    repo, facts = _repo(tmp_path)
    assert facts["kid"] not in (repo / "config" / "settings.py").read_text()
    result = Scanner(ScanOptions()).scan_paths([str(repo)], git=True)
    by_key = {hit.finding.key_id: hit.finding for hit in result.hits}
    finding = by_key[facts["kid"]]
    assert finding.commit == facts["added"]
    assert finding.file == f"{repo}/config/settings.py"
    assert (finding.line, finding.column) == (3, len("AWS_KEY = '") + 1)
    assert finding.secret_paired
    assert result.stats.commits == 4


def test_every_branch_is_scanned(tmp_path: Path) -> None:
    repo, facts = _repo(tmp_path)
    result = Scanner().scan_paths([str(repo)], git=True)
    findings = {hit.finding.key_id: hit.finding for hit in result.hits}
    assert findings[facts["branch_kid"]].commit == facts["branch_commit"]
    assert len(result.hits) == 2


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from honeyguard.creds import ScanInputError

    tool("git")
    with pytest.raises(ScanInputError, match="not a git repository"):
        Scanner().scan_paths([str(tmp_path)], git=True)
