"""`honeyguard db current|upgrade`, run as a user runs them, against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from honeyguard.store.schema import head_revision

EXE = Path(sys.executable).with_name("honeyguard")


def _hg(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args, "--config", str(config)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, check=False, timeout=120)


def test_current_then_upgrade_from_the_settings_url(state_url: str, tmp_path: Path) -> None:
    config = tmp_path / "honeyguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nserver: {{state_url: '{state_url}'}}\n")
    before = _hg(config, "db", "current")
    assert before.returncode == 0, before.stderr
    assert "revision none" in before.stdout and "migrations pending" in before.stdout
    upgraded = _hg(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"revision {head_revision()} (upgraded from empty" in upgraded.stdout
    with sa.create_engine(state_url).connect() as conn:
        assert "sensors" in sa.inspect(conn).get_table_names()
    after = _hg(config, "db", "current")
    assert f"revision {head_revision()}, head {head_revision()} (up to date)" in after.stdout


def test_a_database_from_a_newer_version_is_one_line_and_status_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    config = tmp_path / "honeyguard.yaml"
    config.write_text(f"data_dir: {tmp_path}\nserver: {{state_url: '{url}'}}\n")
    done = _hg(config, "db", "upgrade")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "9999" in done.stderr
