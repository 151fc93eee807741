"""Archives within limits: a zip bomb costs bounded memory, nesting stops at the depth cap."""

from __future__ import annotations

import io
import random
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

from honeyguard.creds import ScanLimits, Scanner, ScanOptions
from tests.creds.keys import account, key_id, secret

MiB = 1024 * 1024


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_zip_bomb_is_bounded(tmp_path: Path) -> None:
    rng = random.Random(1)
    kid = key_id(rng, account(rng))
    out = tmp_path / "bomb.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.env", f"AWS_ACCESS_KEY_ID={kid}\n")
        with archive.open("zeros.txt", "w") as member:  # 256 MiB that compress to ~256 KiB
            chunk = b"\n" * MiB
            for _ in range(256):
                member.write(chunk)
        archive.writestr("z.env", f"AWS_ACCESS_KEY_ID={kid}\n")
    limits = ScanLimits(max_member_bytes=4 * MiB, max_archive_bytes=8 * MiB)
    tracemalloc.start()
    result = Scanner(ScanOptions(), limits).scan_paths([str(out)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40 * MiB
    assert [h.finding.file for h in result.hits] == [f"{out}!a.env", f"{out}!z.env"]
    assert any("only the first" in w for w in result.stats.warnings)


def test_total_budget_stops_unpacking(tmp_path: Path) -> None:
    rng = random.Random(2)
    kid = key_id(rng, account(rng))
    files = {f"part{i}.txt": b"\n" * MiB for i in range(6)}
    files["late.env"] = f"AWS_ACCESS_KEY_ID={kid}\n".encode()
    (tmp_path / "big.zip").write_bytes(_zip(files))
    limits = ScanLimits(max_member_bytes=2 * MiB, max_archive_bytes=3 * MiB)
    result = Scanner(ScanOptions(), limits).scan_paths([str(tmp_path / "big.zip")])
    assert result.hits == []
    assert any("limits reached" in w for w in result.stats.warnings)


def test_nesting_depth_cap(tmp_path: Path) -> None:
    rng = random.Random(3)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    data = f"{kid} {sec}\n".encode()
    name = "keys.txt"
    for level in range(5):
        data, name = _zip({name: data}), f"level{level}.zip"
    (tmp_path / "deep.zip").write_bytes(data)
    shallow = Scanner(ScanOptions(), ScanLimits(max_archive_depth=3)).scan_paths([str(tmp_path)])
    assert shallow.hits == [] and any("nested deeper" in w for w in shallow.stats.warnings)
    deep = Scanner(ScanOptions(), ScanLimits(max_archive_depth=6)).scan_paths([str(tmp_path)])
    assert [h.finding.key_id for h in deep.hits] == [kid]
    assert deep.hits[0].finding.file.count("!") == 5


def test_corrupt_archives_are_warnings_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\xff" * 100)
    (tmp_path / "broken.tgz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 50)
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w") as archive:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    (tmp_path / "links.tar").write_bytes(good.getvalue())
    result = Scanner().scan_paths([str(tmp_path)])
    assert result.hits == []
    assert len([w for w in result.stats.warnings if "unreadable archive" in w]) == 2


def test_special_files_are_not_opened(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")  # opening a FIFO would block forever
    (tmp_path / "loop").symlink_to(tmp_path)
    result = Scanner().scan_paths([str(tmp_path)])
    assert result.hits == [] and result.stats.files == 0
