"""Every commit of a repository's history, through one `git log -p` process.

Only added lines matter: a key that was committed and later deleted is an added line of the commit
that introduced it. With --unified=0 git prints just those, each hunk header giving the line number
in the new version, so a finding names the commit, the path and the line in that commit.
The argv is fixed; external diff drivers and textconv filters (which could run programs named in
the repository's config) are switched off.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from honeyguard.creds.detector import contains_candidate
from honeyguard.creds.finding import Origin
from honeyguard.creds.limits import ScanInputError

if TYPE_CHECKING:
    from honeyguard.creds.scanner import Scanner

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_COMMIT_MARK = b"\x00commit "


def git_argv(git: str, repo: Path) -> list[str]:
    return [git, "-C", str(repo), "-c", "core.quotePath=false", "-c", "safe.directory=*",
            "log", "-p", "--all", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
            "--unified=0", "--format=%x00commit %H"]


def scan_history(repo: Path, scanner: Scanner) -> None:
    git = shutil.which("git")
    if git is None:
        raise ScanInputError("git is not installed (needed for --git)")
    check = subprocess.run([git, "-C", str(repo), "-c", "safe.directory=*", "rev-parse", "--git-dir"],
                           capture_output=True, check=False, timeout=60)
    if check.returncode != 0:
        raise ScanInputError(f"{repo}: not a git repository")
    with subprocess.Popen(git_argv(git, repo), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        _parse(process.stdout, repo, scanner)
        process.stdout.close()
        if process.wait() != 0:
            scanner.stats.warn(f"{repo}: git log exited with status {process.returncode}")


class _FileDiff:
    """Added lines of one file in one commit, flushed to the scanner in bounded pieces."""

    def __init__(self, scanner: Scanner, label: str, commit: str) -> None:
        self.scanner, self.label, self.commit = scanner, label, commit
        self.lines: list[bytes] = []
        self.numbers: list[int] = []
        self.size = 0

    def add(self, line: bytes, number: int) -> None:
        self.lines.append(line)
        self.numbers.append(number)
        self.size += len(line)
        if self.size > self.scanner.limits.max_member_bytes:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            data = b"\n".join(self.lines)
            if contains_candidate(data):
                origin = Origin(file=self.label, commit=self.commit, line_map=tuple(self.numbers))
                self.scanner.add_git_buffer(data, origin)
            else:
                self.scanner.stats.bytes += len(data)
        self.lines, self.numbers, self.size = [], [], 0


def _parse(stream, repo: Path, scanner: Scanner) -> None:  # type: ignore[no-untyped-def]
    commit = ""
    current: _FileDiff | None = None
    in_hunk = False
    number = 0
    for raw in stream:
        line = raw.rstrip(b"\n")
        if line.startswith(_COMMIT_MARK):
            if current:
                current.flush()
            current, in_hunk = None, False
            commit = line[len(_COMMIT_MARK):].decode("ascii", "replace").strip()
            scanner.stats.commits += 1
        elif line.startswith(b"diff --git "):
            if current:
                current.flush()
            current, in_hunk = None, False
        elif not in_hunk and line.startswith(b"+++ "):
            path = _path(line[4:])
            current = _FileDiff(scanner, f"{repo}/{path}", commit) if path else None
        elif line.startswith(b"@@"):
            found = _HUNK.match(line)
            in_hunk, number = found is not None, int(found.group(1)) if found else 0
        elif in_hunk and current is not None and line.startswith(b"+"):
            current.add(line[1:], number)
            number += 1
    if current:
        current.flush()


def _path(raw: bytes) -> str | None:
    """'b/dir/file' (maybe quoted) -> 'dir/file'; None for /dev/null (a deletion)."""
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].encode("latin-1", "replace").decode("unicode_escape", "replace")
    if text == "/dev/null":
        return None
    return text[2:] if text.startswith("b/") else text
